"""`jlcompose watch --detach` against a real running lab: a saved requirement is importable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import container_id, module_version, run_cli

pytestmark = pytest.mark.docker


def _container(root: Path) -> str:
    return container_id(root, "torch")


def _six_version(cid: str) -> str:
    return module_version(cid, "six")


def test_detached_watcher_hot_installs_a_saved_requirement(lab_project: Path) -> None:
    root = lab_project
    req = root / "docker_files" / "torch" / "requirements.txt"
    up = run_cli("up", "torch", "--cpu", cwd=root)
    assert up.returncode == 0, up.stderr
    cid = _container(root)
    assert _six_version(cid) != "1.16.0"

    started = run_cli("watch", "torch", "--detach", cwd=root, timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        second = run_cli("watch", "torch", "--detach", cwd=root, timeout=60)
        assert second.returncode == 1 and "already runs" in second.stderr
        status = json.loads(run_cli("status", "--json", cwd=root).stdout)
        assert isinstance(status["watcher_pid"], int)

        with req.open("a", encoding="utf-8") as f:  # an in-place save, as most editors do
            f.write("six==1.16.0\n")
        saved = time.monotonic()
        version = _six_version(cid)
        while version != "1.16.0" and time.monotonic() - saved < 60:
            time.sleep(0.5)
            version = _six_version(cid)
        print(f"save -> importable in the container: {time.monotonic() - saved:.1f} s")
        assert version == "1.16.0", (root / ".jlcompose" / "watch.log").read_text()
    finally:
        stopped = run_cli("watch", "--stop", cwd=root, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert _container(root) == cid  # installed live: same container, no restart
    log = (root / ".jlcompose" / "watch.log").read_text()
    assert "requirements.txt changed: +six==1.16.0; installing in torch" in log
    state = json.loads((root / ".jlcompose" / "state.json").read_text())["services"]["torch"]
    assert state["hot_installed"] == ["six==1.16.0"]
    assert state["applied"] == req.read_text()
    assert not (root / ".jlcompose" / "watch.pid").exists()
