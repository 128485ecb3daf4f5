"""Host ports for the labs: a taken default port moves to a free one, remembered per project.

Two people (or two projects) on one GPU server both want 8888. A port you set yourself
(JLC_TORCH_PORT in .env or the shell) is kept, and a conflict there is an error; the default
port moves to the next free one, is remembered in .jlcompose/state.json and printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from jlcompose import console
from jlcompose.core.composemodel import ComposeModel, service_variable
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import PortTaken
from jlcompose.lab.http import port_in_use
from jlcompose.project import Project
from jlcompose.state import State

SEARCH = 100  # ports tried above the taken one before giving up


def holder(engine: Engine, port: int) -> str:
    """Who holds a host port, in words: a jlcompose project's lab, a container, or a program."""
    for c in engine.containers_publishing(port):
        if "org.jlcompose.hash" in c.labels:  # a lab image's label, which its containers carry
            return f"the {c.service} lab of jlcompose project {c.project}"
        if c.project and c.service:
            return f"service {c.service} of Compose project {c.project}"
        return f"container {c.name}"
    return "another program"


def _free(bind: str, start: int) -> int | None:
    for port in range(start, min(start + SEARCH, 65536)):
        if not port_in_use(bind, port):
            return port
    return None


def move_taken(
    project: Project, engine: Engine, stack: Stack, model: ComposeModel, names: Sequence[str]
) -> bool:
    """Give labs whose default port is taken a free one (remembered); True when one moved."""
    running = {c.service for c in engine.containers(stack, names) if c.running}
    moved: dict[str, int] = {}
    for name in names:
        address = model.service(name).address
        if address is None or name in running or not port_in_use(address.bind, address.port):
            continue
        variable = service_variable(name, "PORT")
        who = holder(engine, address.port)
        chosen = project.compose_variable(variable)
        if chosen is not None:  # you asked for this port: keep it, and say why it cannot be
            raise PortTaken(
                f"port {address.port} on {address.bind} is used by {who}, so the {name} lab cannot "
                "listen there; nothing was changed.",
                hint=f"stop that, or set another {variable} ({chosen[1]} sets it now).",
            )
        new = _free(address.bind, address.port + 1)
        if new is None:
            raise PortTaken(f"no free port near {address.port} on {address.bind} for the {name} lab.")
        console.warn(
            f"port {address.port} is used by {who}: the {name} lab listens on {new} instead "
            f"(remembered for this project; set {variable} in .env to choose one)"
        )
        moved[name] = new

    def remember(state: State) -> None:
        for name, port in moved.items():
            state.service(name).port = port

    if moved:
        project.state.update(remember)
    return bool(moved)
