"""A project folder with the shipped files and a FakeEngine that answers for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jlcompose.config import load_config
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


class Factory:
    """Stands in for jlcompose.project.make_engine: one fake engine, remembering each call."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        project: Project,
        *,
        cpu: bool = False,
        tags: dict[str, str] | None = None,
        project_name: str | None = None,
        extra_files: Any = (),
    ) -> FakeEngine:
        self.calls.append({"cpu": cpu, "tags": dict(tags or {}), "extra_files": list(extra_files)})
        self.engine.variables = project.variables(tags)
        self.engine.extra_files = list(extra_files)
        return self.engine


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = copy_template(tmp_path / "demo")
    cfg = load_config(root, {})
    return Project(config=cfg, services=discover_services(cfg), environ={})


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(compose_config=compose_config())


@pytest.fixture
def factory(engine: FakeEngine) -> Factory:
    return Factory(engine)
