"""`jlcompose lock` round trip on an NGC-like lab: the rebuilt lab has exactly what the lock says.

The lab runs FROM jlcompose-test/ngc-like:1, whose pip constraint file pins every package of
the image (as NGC's does): those stay out of the lock. The lab "drifted" the way a month-old
image has: its requirements say `tabulate`, but it has tabulate 0.8.10 (today's resolution
gives 0.9.0). A rebuild from the lock gets 0.8.10 back, and the lab's `pip freeze`, less what
the constraint file pins, is the lock line for line.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jlcompose.core import lockfile
from tests.conftest import container_id, copy_template, drop_project, free_port, module_version, run_cli

pytestmark = pytest.mark.docker

NGC_LIKE = "jlcompose-test/ngc-like:1"


def _exec(cid: str, *argv: str) -> str:
    done = subprocess.run(
        ["docker", "exec", "-u", "0", cid, *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    root = copy_template(tmp_path / "proj")
    name = f"jlcl{uuid.uuid4().hex[:8]}"
    (root / ".env").write_text(
        f"JLC_PROJECT={name}\nJLC_TORCH_BASE={NGC_LIKE}\nJLC_TORCH_PORT={free_port()}\nJLC_SHM_SIZE=256m\n"
    )
    (root / "docker_files/torch/requirements.txt").write_text("# what this lab needs\ntabulate\n")
    yield root
    drop_project(root, name)


def _unpinned_freeze(cid: str) -> set[str]:
    """The lab's `pip freeze`, less the packages its pip constraint file pins at that version."""
    pinned = lockfile.pins(_exec(cid, "sh", "-c", "cat $PIP_CONSTRAINT"))
    lines = _exec(cid, "python3", "-m", "pip", "freeze").splitlines()
    return {
        line
        for line in lines
        if not (m := line.partition("==")) or pinned.get(lockfile.canonical(m[0])) != m[2]
    }


def test_a_rebuild_from_the_lock_has_what_the_lab_had(project: Path) -> None:
    root = project
    up = run_cli("up", "torch", "--cpu", cwd=root)
    assert up.returncode == 0, up.stderr
    cid = container_id(root)
    assert module_version(cid, "tabulate") != "0.8.10"
    _exec(cid, "sh", "-c", "uv pip install --system --break-system-packages tabulate==0.8.10")  # the drift

    locked = run_cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    lock = root / "docker_files/torch/requirements.lock"
    text = lock.read_text()
    kept = {line for line in text.splitlines() if line and not line.startswith("#")}
    assert "tabulate==0.8.10" in kept and any(line.startswith("uv==") for line in kept)
    # NGC's own packages stay in its constraint file, not here
    assert not any(line.startswith(("torch==", "jupyterlab==", "six==")) for line in kept)
    assert "the image's constraint file pins" in locked.stderr
    assert kept == _unpinned_freeze(cid)  # the lock is what the running lab has

    rebuilt = run_cli("up", "torch", "--cpu", "--rebuild", cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "from requirements.lock" in rebuilt.stderr
    new = container_id(root)
    assert new != cid
    assert module_version(new, "tabulate") == "0.8.10"  # not today's resolution of `tabulate`
    assert _unpinned_freeze(new) == kept

    # pipreq on a locked project locks again (here through the lab's agent, in the lab itself)
    added = run_cli("pipreq", "humanize==4.9.0", cwd=root)
    assert added.returncode == 0, added.stderr
    assert "locked again" in added.stderr
    relocked = lock.read_text()
    assert "humanize==4.9.0" in relocked.splitlines() and "tabulate==0.8.10" in relocked.splitlines()
    req = (root / "docker_files/torch/requirements.txt").read_text()
    assert lockfile.applies(relocked, req)

    # a requirement added by hand: the lock no longer applies, and `up` says so in one sentence
    (root / "docker_files/torch/requirements.txt").write_text(req + "humanize\n# a comment\n")
    again = run_cli("up", "torch", "--cpu", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "requirements.lock is older than docker_files/torch/requirements.txt" in again.stderr
    assert "from requirements.lock" not in again.stderr
