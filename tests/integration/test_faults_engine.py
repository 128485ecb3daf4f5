"""Faults during `up`: the daemon going away, Ctrl-C during a build. The lab survives both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.test_up_engine import _container_id, _get, _project_name

pytestmark = pytest.mark.docker

SLOW_SETUP = """\
import time
from setuptools import setup
time.sleep(60)  # a build step that takes long enough to be interrupted
setup(name="jlc-slow", version="0.1", py_modules=[])
"""


def _start_lab(root: Path) -> tuple[str, str]:
    res = run_cli("up", "torch", "--cpu", cwd=root)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1], _container_id(root, _project_name(root))


def test_daemon_gone_during_up(lab_project: Path, tmp_path: Path) -> None:
    url, cid = _start_lab(lab_project)
    (lab_project / "docker_files/torch/requirements.txt").write_text("six==1.16.0\n")
    real = subprocess.run(["sh", "-c", "command -v docker"], capture_output=True, text=True).stdout.strip()
    fake = tmp_path / "bin"
    fake.mkdir()
    # every engine call after the build answers as a stopped daemon would
    (fake / "docker").write_text(
        "#!/bin/sh\n"
        'case " $* " in *" up "*|*" container list "*)\n'
        '  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. '
        'Is the docker daemon running?" >&2; exit 1;; esac\n'
        f'exec {real} "$@"\n'
    )
    (fake / "docker").chmod(0o755)
    res = run_cli("up", "torch", "--cpu", cwd=lab_project, env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert res.returncode == 3, res.stderr
    assert "the Docker daemon does not answer at unix:///var/run/docker.sock." in res.stderr
    assert _container_id(lab_project, _project_name(lab_project)) == cid
    base, token = url.split("/lab?token=")
    assert _get(f"{base}/api/status?token={token}") == 200


def test_ctrl_c_during_build_leaves_the_lab_running(lab_project: Path) -> None:
    url, cid = _start_lab(lab_project)
    slow = lab_project / "docker_files/torch/slowpkg"
    slow.mkdir()
    (slow / "setup.py").write_text(SLOW_SETUP)
    req = lab_project / "docker_files/torch/requirements.txt"
    req.write_text(req.read_text() + "./slowpkg\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jlcompose", "up", "torch", "--cpu"],
        cwd=lab_project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a run started in the background (`cmd &`) ignores SIGINT, and the child would too
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "slowpkg" in line or "Building jlc-slow" in line or "Resolved" in line or not line:
            break
    time.sleep(3)
    assert proc.poll() is None, seen  # still building
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    assert time.monotonic() - t0 < 30
    assert "interrupted" in err
    assert _container_id(lab_project, _project_name(lab_project)) == cid
    base, token = url.split("/lab?token=")
    assert _get(f"{base}/api/status?token={token}") == 200
