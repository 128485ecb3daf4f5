"""The README's commands, pasted as a new user pastes them, end with a lab that answers.

Two blocks: the quickstart (install jlcompose, `init` a folder, `up`) and "Without
jlcompose" (plain `docker compose` on the same files). The only changes are the ones a user
on a machine without nvcr.io makes: a local base image, and a free port and project name so
the test does not collide with anything else on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import LAB_BASE, REPO, drop_images, free_port

pytestmark = pytest.mark.docker


def block_after(heading: str, index: int = 0) -> list[str]:
    """The command lines (comments dropped) of the index-th ```sh block under a README heading."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.split("  #", 1)[0].strip() for line in blocks[index].splitlines() if line.strip()]


def bash(lines: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "set -e\n" + "\n".join(lines) + "\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def answers(url: str) -> bool:
    with urllib.request.urlopen(url.replace("/lab?", "/api/status?"), timeout=30) as response:
        return int(response.status) == 200


def test_quickstart_pasted_into_a_fresh_project_ends_with_a_working_url(tmp_path: Path) -> None:
    install = block_after("Quickstart for your own project", 0)
    assert install == ["pipx install ./jlcompose"]  # the alternatives are in its comment
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # the comment's `pip install ./jlcompose`, in a fresh environment, from this checkout
    pip = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    lines = block_after("Quickstart for your own project", 1)
    assert lines[0] == "cd ~/work/my-model" and lines[1:] == ["jlcompose init", "jlcompose up"]
    project = tmp_path / "work" / "my-model"  # `cd ~/work/my-model` with HOME at tmp_path
    project.mkdir(parents=True)
    name = f"jlcq{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JLCOMPOSE_")},
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),  # `cd ~/work/my-model` lands in the fresh project
        "JLC_TORCH_BASE": LAB_BASE,  # no nvcr.io here
        "JLC_TORCH_PORT": str(free_port()),
        "JLC_PROJECT": name,
    }
    try:
        res = bash(lines, tmp_path, env)
        assert res.returncode == 0, res.stderr[-3000:]
        url = res.stdout.strip().splitlines()[-1]
        assert url.startswith(f"http://127.0.0.1:{env['JLC_TORCH_PORT']}/lab?token=") and answers(url)
    finally:
        subprocess.run(["bash", "-c", "jlcompose down --volumes"], cwd=project, env=env, capture_output=True)
        drop_images(name)


def test_the_plain_compose_commands_run_as_written(tmp_path: Path) -> None:
    from jlcompose.scaffold import init

    project = tmp_path / "plain-project"
    init(project)
    lines = block_after("Without jlcompose")
    assert lines[0] == "cp .env.example .env" and lines[-1] == "docker compose down"
    name = f"jlcp{uuid.uuid4().hex[:8]}"
    port = free_port()
    # what the user edits after `cp`: this machine has no GPU runtime and no nvcr.io
    edit = (
        f"printf 'JLC_TORCH_BASE={LAB_BASE}\\nJLC_PROJECT={name}\\nJLC_TORCH_PORT={port}\\n"
        "COMPOSE_FILE=compose/compose.yaml:compose/compose.cpu.yaml\\nJLC_SHM_SIZE=256m\\n' >> .env"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JLC_", "COMPOSE_"))}
    try:
        res = bash([lines[0], edit, *lines[1:-1]], project, env)
        assert res.returncode == 0, res.stderr[-3000:]
        url = next(u for u in re.findall(r"http://127\.0\.0\.1:8888/lab\?token=\w+", res.stdout))
        assert answers(url.replace(":8888/", f":{port}/"))
        ps = subprocess.run(
            ["docker", "compose", "ps", "--services"], cwd=project, env=env, capture_output=True, text=True
        )
        assert ps.stdout.split() == ["torch"]  # a bare `up` starts only the PyTorch lab
        down = bash([lines[-1]], project, env)
        assert down.returncode == 0, down.stderr
    finally:
        subprocess.run(
            ["docker", "compose", "down", "-v", "--rmi", "local"], cwd=project, env=env, capture_output=True
        )
