"""Stopping labs: containers go; files, images and the token stay."""

from __future__ import annotations

from collections.abc import Sequence

from jlcompose import console
from jlcompose.engine.api import Engine
from jlcompose.project import Project


def down(project: Project, engine: Engine, names: Sequence[str]) -> int:
    services = [s.name for s in project.pick(names)] if names else None
    stack = project.stack(cpu=False)
    engine.info()
    running = [c for c in engine.containers(stack, services) if c.running]
    engine.down(stack, services)
    if running:
        console.ok(f"stopped {', '.join(sorted({c.service for c in running}))}")
    else:
        console.ok("nothing was running")
    return 0
