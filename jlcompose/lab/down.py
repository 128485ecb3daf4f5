"""Stopping labs: containers go; files, images and the token stay."""

from __future__ import annotations

from collections.abc import Sequence

from jlcompose import console
from jlcompose.engine.api import Engine
from jlcompose.errors import UsageError
from jlcompose.project import Project


def down(project: Project, engine: Engine, names: Sequence[str], *, volumes: bool = False) -> int:
    services = [s.name for s in project.pick(names)] if names else None
    if volumes and services:
        raise UsageError(
            "--volumes removes the caches all labs of this project share, so it goes with all of them.",
            hint="run `jlcompose down --volumes` without naming a service.",
        )
    stack = project.stack(cpu=False)
    engine.info()
    running = [c for c in engine.containers(stack, services) if c.running]
    engine.down(stack, services, volumes=volumes)
    if running:
        console.ok(f"stopped {', '.join(sorted({c.service for c in running}))}")
    else:
        console.ok("nothing was running")
    if volumes:
        console.ok("removed this project's caches (models, datasets, pip and uv downloads)")
    return 0
