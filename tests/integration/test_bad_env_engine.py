"""Bad `.env` values: one clear sentence, exit code 2, nothing changed (real Compose)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.docker

# (line appended to .env, words the message must contain)
BAD_ENV = [
    ("JLC_TORCH_PORT=eighty", "invalid hostPort: eighty"),
    ("JLC_TORCH_PORT=99999", "99999"),
    ("JLC_BIND=not-an-ip", "not-an-ip"),
    ("JLC_SHM_SIZE=lots", "shm_size"),
    ("JLC_UID=me", "JLC_UID must be a number"),
    ("JLC_GID=-5", "JLC_GID must be a number"),
    ("JLC_PROJECT=Bad Name", "not a valid project name"),
    ("JLC_TORCH_BASE=UPPER/Case:1", "not a valid image reference"),
    ("JLC_TORCH_BASE=ok/image:with space", "not a valid image reference"),
    ("COMPOSE_FILE=compose/missing.yaml", None),
    ("JLC_TF_PORT=-1", "-1"),
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".jlcompose" not in p.parts
    }


@pytest.mark.parametrize(("line", "words"), BAD_ENV)
def test_bad_env_value(lab_project: Path, line: str, words: str | None) -> None:
    env = lab_project / ".env"
    env.write_text(env.read_text() + line + "\n")
    before = _snapshot(lab_project)
    res = run_cli("up", "torch", "--cpu", cwd=lab_project)
    if words is None:
        # jlcompose names its compose files itself, so COMPOSE_FILE cannot break it
        assert res.returncode == 0, res.stderr
        return
    assert res.returncode == 2, res.stderr
    last = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(last) == 1, res.stderr
    assert words.lower() in res.stderr.lower(), res.stderr
    assert _snapshot(lab_project) == before
    name = next(l.split("=", 1)[1] for l in env.read_text().splitlines() if l.startswith("JLC_PROJECT="))
    ps = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
    )
    assert ps.stdout.strip() == ""
