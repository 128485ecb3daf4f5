"""`jlcompose sync`: one round now, or the link in the foreground (`--follow`)."""

from __future__ import annotations

import threading

from jlcompose import console
from jlcompose.engine.api import Engine
from jlcompose.errors import JlcomposeError, UsageError
from jlcompose.lab import background, link, sync
from jlcompose.project import Project


def sync_now(project: Project, engine: Engine) -> int:
    if not engine.endpoint().remote:
        console.ok("nothing to sync: the Docker engine is local and the labs bind-mount this folder")
        return 0
    stack = project.stack(cpu=False)
    labs = [c.service for c in engine.containers(stack) if c.running]
    if not labs:
        raise JlcomposeError(
            "no lab of this project runs on the remote engine.",
            hint="`jlcompose up` syncs the folder before it starts the lab.",
        )
    moved = sync.once(project, engine, stack, sorted(labs)[0])
    console.ok(f"synced with the lab's volume: {moved.describe()}")
    return 0


def follow_link(project: Project, engine: Engine) -> int:
    if not engine.endpoint().remote:
        raise UsageError("the Docker engine is local: the labs bind-mount this folder, nothing to sync.")
    stop = threading.Event()
    with background.stop_on_signals(stop):
        try:
            return link.follow(project, engine, stop=stop)
        except KeyboardInterrupt:
            console.info("stopped (interrupted)")
            return 130
