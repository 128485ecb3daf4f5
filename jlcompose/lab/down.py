"""Stopping labs: containers go; files, images and the token stay."""

from __future__ import annotations

from collections.abc import Sequence

from jlcompose import console
from jlcompose.engine.api import Engine
from jlcompose.errors import UsageError
from jlcompose.lab import remote, sync
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
    far = engine.endpoint().remote
    if far:
        # what the lab wrote comes home first: the link's last round, then one of our own,
        # whose failure stops `down` before anything (the workspace volume above all) goes
        if remote.stop_link(project):
            console.ok("the remote link made its last sync and stopped")
        labs = sorted({c.service for c in engine.containers(stack) if c.running})
        if labs:
            moved = sync.once(project, engine, stack, labs[0])
            console.ok(f"synced with the lab's volume: {moved.describe()}")
        if project.state.remote_override.is_file():  # names the workspace volume (--volumes)
            stack = stack.with_files([project.state.remote_override])
    engine.down(stack, services, volumes=volumes)
    if running:
        console.ok(f"stopped {', '.join(sorted({c.service for c in running}))}")
    else:
        console.ok("nothing was running")
    if volumes:
        console.ok("removed this project's caches (models, datasets, pip and uv downloads)")
        if far:
            console.ok("and the lab's copy of the project (your folder here has every synced file)")
    if far and any(c.running for c in engine.containers(stack)):
        remote.start_link(project)  # the labs still running keep their forwards and sync
    return 0
