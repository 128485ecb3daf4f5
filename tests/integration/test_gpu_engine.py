"""The GPU branch of `up`, on an engine that registers the NVIDIA device driver.

scripts/test runs this file in its own phase against a daemon restarted with a stand-in
NVIDIA hook (scripts/engine.sh fake-gpu); no GPU is really given to the container.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.gpu_engine]


def test_up_keeps_the_gpu_reservation(lab_project: Path) -> None:
    res = run_cli("up", "torch", cwd=lab_project)
    assert res.returncode == 0, res.stderr
    assert "CPU" not in res.stderr and "(GPU)" in res.stderr
    rows = json.loads(run_cli("status", "--json", cwd=lab_project).stdout)["services"]
    torch = next(r for r in rows if r["service"] == "torch")
    assert torch["mode"] == "gpu" and torch["state"] == "running"
    name = next(
        l.split("=", 1)[1]
        for l in (lab_project / ".env").read_text().splitlines()
        if l.startswith("JLC_PROJECT=")
    )
    cid = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    inspect = json.loads(
        subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
    )[0]
    requests = inspect["HostConfig"]["DeviceRequests"]
    assert requests and requests[0]["Driver"] == "nvidia" and ["gpu"] in requests[0]["Capabilities"]

    forced = run_cli("up", "torch", "--gpu", cwd=lab_project)
    assert forced.returncode == 0, forced.stderr

    cpu = run_cli("up", "torch", "--cpu", cwd=lab_project)
    assert cpu.returncode == 0, cpu.stderr
    rows = json.loads(run_cli("status", "--json", cwd=lab_project).stdout)["services"]
    assert next(r for r in rows if r["service"] == "torch")["mode"] == "cpu"


def test_a_lab_reserves_the_gpus_asked_for_and_status_shows_them(lab_project: Path) -> None:
    env = lab_project / ".env"
    base = env.read_text()

    def gpus_of_torch() -> tuple[str | None, Any]:
        rows = json.loads(run_cli("status", "--json", cwd=lab_project).stdout)["services"]
        row = next(r for r in rows if r["service"] == "torch")
        return row["gpus"], row["mode"]

    assert run_cli("up", "torch", cwd=lab_project).returncode == 0
    assert gpus_of_torch() == ("all", "gpu")
    env.write_text(base + "JLC_TORCH_GPUS=1\n")
    res = run_cli("up", "torch", cwd=lab_project)
    assert res.returncode == 0, res.stderr
    assert gpus_of_torch() == ("1", "gpu")
    env.write_text(base + "JLC_TORCH_GPUS=device=0\n")
    assert run_cli("up", "torch", cwd=lab_project).returncode == 0
    assert gpus_of_torch() == ("0", "gpu")
    env.write_text(base + "JLC_TORCH_GPUS=lots\n")
    bad = run_cli("up", "torch", cwd=lab_project)
    assert bad.returncode == 2 and "JLC_TORCH_GPUS='lots' is not `all`, a count or GPU IDs" in bad.stderr
    assert gpus_of_torch() == ("0", "gpu")  # refused before anything changed
