"""Hot installs on an NGC-like lab, seen the way users see them: the CLI, and a real kernel.

The lab is built FROM jlcompose-test/ngc-like:1 (scripts/engine.sh): a torch whose version is
a pre-release with a local tag, a PIP_CONSTRAINT file pinning every package of the image,
PEP 668 off, an entrypoint banner. The project belongs to UID 1234, as a user's folder would,
and the lab runs as that user.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import container_id, copy_template, drop_project, free_port, module_version, run_cli

pytestmark = pytest.mark.docker

NGC_LIKE = "jlcompose-test/ngc-like:1"
UID = 1234
TORCH_PIN = "torch==2.9.0a0+145a3a7.nv25.10"


def _chown(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        os.lchown(path, UID, UID)


@pytest.fixture
def ngc_project(tmp_path: Path) -> Iterator[Path]:
    root = copy_template(tmp_path / "proj")
    name = f"jlcn{uuid.uuid4().hex[:8]}"
    (root / ".env").write_text(
        f"JLC_PROJECT={name}\nJLC_TORCH_BASE={NGC_LIKE}\nJLC_TORCH_PORT={free_port()}\n"
        f"JLC_UID={UID}\nJLC_GID={UID}\nJLC_SHM_SIZE=256m\n"
    )
    _chown(root)
    up = run_cli("up", "torch", "--cpu", cwd=root)
    assert up.returncode == 0, up.stderr
    yield root
    drop_project(root, name)


def in_lab(cid: str, script: str, user: str = "0") -> str:
    done = subprocess.run(
        ["docker", "exec", "-u", user, cid, "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    return done.stdout + done.stderr


def torch_files(cid: str) -> str:
    listing = in_lab(
        cid,
        "cd $(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/.. && "
        "find torch torch-*.dist-info -type f | sort | xargs sha256sum",
    )
    return hashlib.sha256(listing.encode()).hexdigest() + f" ({listing.count(chr(10))} files)"


def test_the_cli_installs_through_the_agent_without_a_docker_call(ngc_project: Path) -> None:
    root = ngc_project
    cid = container_id(root)
    torch_before = torch_files(cid)
    res = run_cli("-v", "pipreq", "tabulate", cwd=root)
    assert res.returncode == 0, res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.startswith("$ ")] == []  # no docker, no compose
    assert "installed tabulate in the torch lab" in res.stderr
    assert module_version(cid, "tabulate") != "" and not module_version(cid, "tabulate").startswith("failed")
    assert torch_files(cid) == torch_before  # NGC's torch untouched
    req = root / "docker_files/torch/requirements.txt"
    assert req.read_text().splitlines()[-1] == "tabulate"
    assert req.stat().st_uid == UID  # written by the lab's root agent, still yours
    state = root / ".jlcompose/state.json"
    assert (
        state.stat().st_uid == UID
        and "tabulate" in json.loads(state.read_text())["services"]["torch"]["hot_installed"]
    )
    logs = subprocess.run(["docker", "logs", cid], capture_output=True, text=True).stderr
    assert "jlcompose-agent: uv install tabulate: exit 0" in logs


@pytest.mark.parametrize(
    ("requirement", "words"),
    [
        ("torch==2.3", "NVIDIA's own build"),
        ("torchvision==0.24.0", "torchvision 0.24.0 depends on torch==2.9.0"),  # 2.9.0a0 < 2.9.0
    ],
)
def test_ngcs_pins_refuse_what_they_must_and_uv_pip_and_the_build_agree(
    ngc_project: Path, requirement: str, words: str
) -> None:
    root = ngc_project
    cid = container_id(root)
    req = root / "docker_files/torch/requirements.txt"
    before = req.read_bytes()
    hot = run_cli("pipreq", requirement, cwd=root)
    assert hot.returncode == 6, hot.stderr
    assert f"the image pins {TORCH_PIN} in its pip constraint file" in hot.stderr and words in hot.stderr
    assert req.read_bytes() == before
    # pip, as NGC's own docs have users type it, refuses the same
    pip = in_lab(cid, f"python3 -m pip install --dry-run '{requirement}' 2>&1; echo rc=$?")
    assert "ResolutionImpossible" in pip and "rc=1" in pip, pip
    # and so does a build that has it in the requirements file
    assert run_cli("pipreq", "--no-install", requirement, cwd=root).returncode == 0
    build = run_cli("up", "torch", "--cpu", cwd=root)
    assert build.returncode == 4, build.stderr
    assert "building the torch image failed:" in build.stderr and TORCH_PIN in build.stderr
    assert "left as it was" in build.stderr


def test_unpin_drops_the_pin_now_and_in_the_next_build(ngc_project: Path) -> None:
    root = ngc_project
    cid = container_id(root)
    refused = run_cli("pipreq", "six==1.16.0", cwd=root)
    assert refused.returncode == 6 and "--unpin six six==1.16.0" in refused.stderr
    res = run_cli("pipreq", "--unpin", "six", "six==1.16.0", cwd=root)
    assert res.returncode == 0, res.stderr
    assert module_version(cid, "six") == "1.16.0"
    assert (root / "jlcompose.toml").read_text() == 'unpin = ["six"]\n'
    assert "six==" not in in_lab(cid, "cat /etc/pip/constraint.txt")
    rebuilt = run_cli("up", "torch", "--cpu", "--recreate", cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    new = container_id(root)
    assert new != cid and module_version(new, "six") == "1.16.0"
    assert "six==" not in in_lab(new, "cat /etc/pip/constraint.txt")


def _kernel(root: Path) -> Any:
    from jupyter_kernel_client import JupyterKernelClient

    port = re.search(r"JLC_TORCH_PORT=(\d+)", (root / ".env").read_text())
    assert port is not None
    client = JupyterKernelClient(
        server_url=f"http://127.0.0.1:{port.group(1)}", token=(root / ".jlcompose/token").read_text().strip()
    )
    client.start()
    return client


def _text(reply: dict[str, Any]) -> str:
    parts = []
    for out in reply.get("outputs", []):
        parts.append(str(out.get("text") or out.get("data", {}).get("text/plain") or out.get("evalue") or ""))
    return "\n".join(parts)


def test_pipreq_in_a_notebook_installs_keeps_and_hints(ngc_project: Path) -> None:
    root = ngc_project
    kernel = _kernel(root)
    try:
        setup = kernel.execute("import os; x = 42; os.getpid(), os.getuid()")
        pid_uid = _text(setup)
        assert f", {UID})" in pid_uid  # the kernel runs as you
        added = kernel.execute("%pipreq 'tabulate==0.9.0'", timeout=120)
        assert "installed tabulate==0.9.0 in the torch lab" in _text(added), _text(added)
        check = kernel.execute("import tabulate; tabulate.__version__, x, os.getpid()")
        assert _text(check).startswith("('0.9.0', 42, ") and pid_uid.split(",")[0][1:] in _text(check)
        missing = kernel.execute("import sklearn")
        assert "not installed: %pipreq scikit-learn installs it and keeps it" in _text(missing)
        refused = kernel.execute("%pipreq 'jupyterlab<4'", timeout=120)
        assert "the image pins jupyterlab==" in _text(refused)
    finally:
        kernel.stop()
    req = root / "docker_files/torch/requirements.txt"
    assert req.read_text().splitlines()[-1] == "tabulate==0.9.0" and req.stat().st_uid == UID


SMALL = [
    "tabulate", "toolz", "humanize", "termcolor", "colorama", "docopt", "pyfiglet", "emoji",
    "more-itertools", "boltons", "sortedcontainers", "cachetools", "xmltodict", "tomlkit",
    "simplejson", "click", "pytz", "iniconfig", "pluggy", "markdown", "mdurl", "pyparsing",
    "cycler", "filelock", "tenacity",
]  # fmt: skip


def test_load_twenty_cli_five_notebook_and_a_watcher(ngc_project: Path) -> None:
    root = ngc_project
    cid = container_id(root)
    watcher = run_cli("watch", "--detach", cwd=root)
    assert watcher.returncode == 0, watcher.stderr
    cli, notebook = SMALL[:20], SMALL[20:]
    kernel = _kernel(root)
    env = {k: v for k, v in os.environ.items() if k != "JLCOMPOSE_PROJECT_NAME"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jlcompose", "pipreq", pkg],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pkg in cli
    ]
    try:
        for pkg in notebook:
            reply = kernel.execute(f"%pipreq {pkg}", timeout=300)
            assert f"installed {pkg} in the torch lab" in _text(reply), _text(reply)
        for proc, pkg in zip(procs, cli, strict=True):
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, (pkg, err)
        time.sleep(1.5)  # past the watcher's quiet period: a wrong extra install would show now
    finally:
        kernel.stop()
        run_cli("watch", "--stop", cwd=root)
    req = root / "docker_files/torch/requirements.txt"
    lines = [ln for ln in req.read_text().splitlines() if ln and not ln.startswith("#")]
    assert sorted(lines) == sorted(SMALL)  # each exactly once
    logs = subprocess.run(["docker", "logs", cid], capture_output=True, text=True).stderr
    installs = re.findall(r"jlcompose-agent: uv install (\S+): exit 0", logs)
    assert sorted(installs) == sorted(SMALL), installs  # each installed once: the watcher added none
    state = json.loads((root / ".jlcompose/state.json").read_text())
    assert sorted(state["services"]["torch"]["hot_installed"]) == sorted(SMALL)
    # the file is valid for pip
    parsed = in_lab(
        cid,
        "python3 -m pip install --dry-run -r /workspace/docker_files/torch/requirements.txt -q 2>&1; echo rc=$?",
    )
    assert parsed.strip().endswith("rc=0"), parsed
