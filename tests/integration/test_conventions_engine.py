"""Compose's conventions: a name per project, a stack at the root, a Compose file of the user's own."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from jlcompose.errors import UsageError
from jlcompose.scaffold import init
from tests.conftest import LAB_BASE, REPO, drop_project, free_port, run_cli

pytestmark = pytest.mark.docker

PLAIN = {k: v for k, v in os.environ.items() if not k.startswith(("JLC_", "COMPOSE_"))}


def compose(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", *args], cwd=project, env=PLAIN, capture_output=True, text=True
    )


def test_each_project_is_named_after_its_folder(tmp_path: Path) -> None:
    names = []
    for folder in ("Model A", "model_b"):
        init(tmp_path / folder)
        res = compose(tmp_path / folder, "-f", "compose/compose.yaml", "config", "--format", "json")
        assert res.returncode == 0, res.stderr
        names.append(json.loads(res.stdout)["name"])
    assert names == ["model-a", "model_b"]  # two projects' labs never collide, even under plain Compose


def test_init_beside_a_compose_file_of_the_users_own(tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    theirs = "services:\n  web:\n    image: jlcompose-test/python:3.11\n    command: [sleep, infinity]\n"
    (project / "compose.yaml").write_text(theirs)
    with pytest.raises(UsageError) as exc:
        init(project)
    assert "already has a Compose file of its own, compose.yaml (services: web)" in exc.value.message
    assert sorted(p.name for p in project.iterdir()) == ["compose.yaml"]  # nothing written
    init(project, add_to=True)
    text = (project / "compose.yaml").read_text()
    assert text.startswith(theirs) and "  - path: compose/compose.yaml" in text
    services = compose(project, "config", "--services")
    assert services.returncode == 0, services.stderr
    assert sorted(services.stdout.split()) == ["torch", "web"]  # tf only under its profile
    with_tf = compose(project, "--profile", "tf", "config", "--services")
    assert sorted(with_tf.stdout.split()) == ["tf", "torch", "web"]


def test_a_stack_at_the_project_root(tmp_path: Path) -> None:
    project = tmp_path / "rooted"
    project.mkdir()
    stack = (REPO / "compose/compose.yaml").read_text()
    stack = stack.replace("..:/workspace", ".:/workspace").replace(
        "context: ../docker_files", "context: docker_files"
    )
    (project / "compose.yaml").write_text(stack)
    init(project, separate=True)  # the docker_files/ of a project, beside its own compose.yaml
    for path in (project / "compose").iterdir():
        path.unlink()
    (project / "compose").rmdir()  # only the root stack is left: no compose.cpu.yaml beside it
    name = f"jlcr{uuid.uuid4().hex[:8]}"
    port = free_port()
    (project / ".env").write_text(f"JLC_PROJECT={name}\nJLC_TORCH_BASE={LAB_BASE}\nJLC_TORCH_PORT={port}\n")
    try:
        res = run_cli("up", "torch", "--cpu", cwd=project)
        assert res.returncode == 0, res.stderr
        url = res.stdout.strip()
        with urllib.request.urlopen(url.replace("/lab?", "/api/status?"), timeout=30) as answer:
            assert answer.status == 200
        assert (project / ".jlcompose/compose.cpu.yaml").is_file()  # made for a stack without one
    finally:
        drop_project(project, name)
