"""With the Docker daemon out of reach, every command that needs it says so in one sentence.

The real docker CLI is pointed at a socket that does not exist (as after `systemctl stop
docker`, or a DOCKER_HOST typo): exit 3, the socket named, no traceback, no file changed,
and `status --json` still prints JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_template, run_cli

pytestmark = pytest.mark.docker  # the docker CLI must be installed; its daemon is not used

SOCKET = "unix:///nonexistent/jlcompose-test.sock"
COMMANDS = [
    ["up"],
    ["up", "torch", "--cpu"],
    ["down"],
    ["status"],
    ["status", "--json"],
    ["logs"],
    ["url"],
    ["prune"],
    ["bench", "torch"],
    ["monitor", "torch"],
]


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_template(tmp_path_factory.mktemp("nodaemon") / "proj")
    (root / ".env").write_text("JLC_TORCH_BASE=jlcompose-test/lab-base:1\n")
    return root


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_one_sentence_exit_3_and_nothing_changed(project: Path, argv: list[str]) -> None:
    before = snapshot(project)
    res = run_cli(*argv, cwd=project, env={"DOCKER_HOST": SOCKET}, timeout=60)
    assert res.returncode == 3, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: the Docker daemon does not answer at {SOCKET}."], res.stderr
    assert len(res.stderr.splitlines()) == 2, res.stderr  # the sentence and its hint, nothing else
    assert snapshot(project) == before
    if "--json" in argv:
        doc = json.loads(res.stdout)
        assert doc["error"]["type"] == "DaemonDown" and doc["error"]["exit_code"] == 3
        assert SOCKET in doc["error"]["message"]
    else:
        assert res.stdout == ""
