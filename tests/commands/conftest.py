"""A project folder with the shipped files and a FakeEngine that answers for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jlcompose.core.config import load_config
from jlcompose.engine.api import Stack
from jlcompose.project import Project, discover_services
from tests.conftest import copy_template
from tests.fakes import FakeEngine


def compose_config(project: str = "demo") -> dict[str, Any]:
    def svc(name: str, port: int) -> dict[str, Any]:
        return {
            "image": f"jlcompose/{project}-{name}:jlc-pending",
            "build": {
                "context": "../docker_files",
                "args": {"BASE_IMAGE": "base:1", "JLC_SERVICE": name},
            },
            "ports": [{"target": 8888, "published": str(port), "host_ip": "127.0.0.1"}],
        }

    return {"name": project, "services": {"torch": svc("torch", 18888), "tf": svc("tf", 18889)}}


def on_cpu(stack: Stack) -> bool:
    """Whether a Stack starts labs without the GPU reservation (the CPU override file)."""
    return any(f.name == "compose.cpu.yaml" for f in stack.files)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = copy_template(tmp_path / "demo")
    cfg = load_config(root, {})
    return Project(config=cfg, services=discover_services(cfg), environ={})


@pytest.fixture
def engine() -> FakeEngine:
    # the base image is already on this machine: a pull is what tests/commands/test_pull.py tries
    return FakeEngine(compose_config=compose_config(), image_envs={"base:1": {}})
