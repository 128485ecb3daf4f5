"""`sudo jlcompose up` (the natural reaction to "needs root"): the lab still runs as you.

Played as root with SUDO_UID/SUDO_GID set, the way sudo leaves them; the project folder
belongs to that user. Afterwards the user, without sudo, must be able to use everything
jlcompose wrote, and a file that only root may read is one sentence with the fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import container_id, run_cli

pytestmark = pytest.mark.docker

UID, GID = 4321, 4322


def as_user(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """jlcompose as the real user (no sudo): setpriv drops to UID:GID for this one command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_") and k != "JLCOMPOSE_PROJECT_NAME"}
    argv = [
        "setpriv",
        f"--reuid={UID}",
        f"--regid={GID}",
        "--clear-groups",
        sys.executable,
        "-m",
        "jlcompose",
    ]
    return subprocess.run([*argv, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def user_project(lab_project: Path) -> Iterator[Path]:
    """lab_project in a folder the user can reach (pytest's own tmp folders are root's, 0700)."""
    if os.geteuid() != 0:
        pytest.skip("playing sudo and another user needs root (CI runs the suite as root)")
    base = Path(tempfile.mkdtemp(prefix="jlcompose-sudo-"))
    base.chmod(0o755)
    root = base / "proj"
    shutil.copytree(lab_project, root)
    try:
        yield root
    finally:
        run_cli("down", cwd=root)
        shutil.rmtree(base, ignore_errors=True)


def test_under_sudo_the_lab_and_every_file_stay_yours(user_project: Path) -> None:
    root = user_project
    for path in [root, *root.rglob("*")]:
        os.lchown(path, UID, GID)
    sudo = {"SUDO_UID": str(UID), "SUDO_GID": str(GID), "SUDO_USER": "alice"}
    up = run_cli("up", "torch", "--cpu", cwd=root, env=sudo)
    assert up.returncode == 0, up.stderr
    cid = container_id(root)
    top = subprocess.run(["docker", "top", cid, "-o", "pid,uid,args"], capture_output=True, text=True).stdout
    assert any(line.split()[1] == str(UID) and "jupyter-lab" in line for line in top.splitlines()[1:]), top
    written = [
        p
        for p in [
            root / ".jlcompose",
            *(root / ".jlcompose").rglob("*"),
            *(root / "docker_files/lab/lib").rglob("*"),
        ]
        if not p.is_socket()
    ]
    owners = {str(p.relative_to(root)): (p.stat().st_uid, p.stat().st_gid) for p in written}
    assert owners and set(owners.values()) == {(UID, GID)}, owners
    # without sudo the user's `up` finds everything it needs (its fast path: no Docker call)
    again = as_user("up", "torch", "--cpu", cwd=root)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == up.stdout.strip()


def test_a_state_file_only_root_may_read_is_one_sentence(user_project: Path) -> None:
    root = user_project
    for path in [root, *root.rglob("*")]:
        os.lchown(path, UID, GID)
    state = root / ".jlcompose"
    state.mkdir(exist_ok=True)
    (state / "token").write_text("t" * 48 + "\n")
    (state / "token").chmod(0o600)  # root's, as an earlier `sudo jlcompose up` of 0.1 left it
    os.chown(state, UID, GID)
    res = as_user("up", "torch", "--cpu", cwd=root)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert (
        f"error: {state / 'token'} belongs to another user (made under sudo?), so jlcompose cannot use it."
        in res.stderr
    )
    assert f"hint: give it back: sudo chown -R $(id -u):$(id -g) {state}" in res.stderr
