"""`jlcompose pipreq` against a real running lab: installed at once, kept after a rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import container_id, module_version, run_cli

pytestmark = pytest.mark.docker

# A stand-in for NGC's PIP_CONSTRAINT: the container reads a pin file from the project mount.
OVERRIDE = """\
services:
  torch:
    environment:
      PIP_CONSTRAINT: /workspace/pins.txt
"""


def _container(root: Path) -> str:
    return container_id(root, "torch")


def _six_version(cid: str) -> str:
    return module_version(cid, "six")


def test_pipreq_installs_live_refuses_what_pip_refuses_and_survives_a_rebuild(
    lab_project: Path,
) -> None:
    root = lab_project
    req = root / "docker_files" / "torch" / "requirements.txt"
    (root / "compose" / "compose.override.yaml").write_text(OVERRIDE)
    (root / "pins.txt").write_text("six==1.16.0\n")

    up = run_cli("up", "torch", "--cpu", cwd=root)
    assert up.returncode == 0, up.stderr
    cid = _container(root)

    added = run_cli("pipreq", "six==1.16.0", cwd=root)
    assert added.returncode == 0, added.stderr
    assert "installed six==1.16.0 in the torch lab" in added.stderr
    assert _six_version(cid) == "1.16.0"  # importable at once, no restart
    assert req.read_text().splitlines()[-1] == "six==1.16.0"
    status = json.loads(run_cli("status", "--json", cwd=root).stdout)
    torch = next(s for s in status["services"] if s["service"] == "torch")
    assert torch["hot_installed"] == ["six==1.16.0"]

    before = req.read_bytes()
    missing = run_cli("pipreq", "jlcompose-no-such-package-xyz", cwd=root)
    assert missing.returncode == 6, missing.stderr
    assert "uv found no package called jlcompose-no-such-package-xyz" in missing.stderr
    assert req.read_bytes() == before

    pinned = run_cli("pipreq", "six==1.17.0", cwd=root)
    assert pinned.returncode == 6, pinned.stderr
    assert "the image pins six==1.16.0 in its pip constraint file" in pinned.stderr
    assert "jlcompose pipreq --unpin six six==1.17.0" in pinned.stderr
    assert req.read_bytes() == before
    assert _six_version(cid) == "1.16.0"

    again = run_cli("up", "torch", "--cpu", "--recreate", cwd=root)
    assert again.returncode == 0, again.stderr
    new_cid = _container(root)
    assert new_cid != cid  # a new container from the rebuilt image
    assert _six_version(new_cid) == "1.16.0"
