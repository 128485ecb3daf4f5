"""Two `up` at once: one build, one container, both print the same URL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_up_engine import _project_name

pytestmark = pytest.mark.docker


def test_two_ups_at_once(lab_project: Path) -> None:
    req = lab_project / "docker_files/torch/requirements.txt"
    req.write_text(req.read_text() + "six==1.16.0\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jlcompose", "up", "torch", "--cpu"],
            cwd=lab_project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    stderr = "".join(err for _, err in results)
    assert stderr.count("building image") == 1, stderr
    assert results[0][0].strip() == results[1][0].strip()
    name = _project_name(lab_project)
    ps = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(ps.stdout.split()) == 1
