"""`jlcompose -v` shows every docker and compose command line it runs, streamed ones too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.docker


def commands(stderr: str) -> list[str]:
    return [line.removeprefix("$ ") for line in stderr.splitlines() if line.startswith("$ ")]


def test_verbose_up_and_pipreq_show_build_up_and_exec(lab_project: Path) -> None:
    up = run_cli("-v", "up", "torch", "--cpu", cwd=lab_project)
    assert up.returncode == 0, up.stderr
    ran = commands(up.stderr)
    compose = [c for c in ran if " compose " in c]
    assert any(c.endswith("config --format json") for c in compose), ran
    assert any(" build " in c and "--build-arg JLC_HASH=" in c for c in compose), ran  # streamed
    assert any(" up --detach --no-build torch" in c for c in compose), ran
    assert any(" image inspect " in c for c in ran), ran
    token = (lab_project / ".jlcompose/token").read_text().strip()
    assert token not in up.stderr  # the variables line masks it
    assert "JUPYTER_TOKEN=***" in up.stderr

    # a hot install reaches the lab's agent through its socket: no docker command at all
    pipreq = run_cli("-v", "pipreq", "six", cwd=lab_project)
    assert pipreq.returncode == 0, pipreq.stderr
    assert commands(pipreq.stderr) == [], pipreq.stderr
    # an exec is streamed too, and shown (the benchmark runs in the lab through one)
    bench = run_cli("-v", "bench", "torch", "--quick", cwd=lab_project)
    execs = [c for c in commands(bench.stderr) if " exec " in c]
    assert execs and " python3 -c " in execs[0], bench.stderr

    quiet = run_cli("up", "torch", "--cpu", cwd=lab_project)
    assert quiet.returncode == 0 and commands(quiet.stderr) == []
