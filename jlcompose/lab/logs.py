"""A lab's log: JupyterLab's output and kernel messages."""

from __future__ import annotations

from jlcompose import console
from jlcompose.engine.api import Engine
from jlcompose.errors import JlcomposeError
from jlcompose.project import Project


def logs(project: Project, engine: Engine, name: str | None, *, follow: bool, tail: int) -> int:
    service = project.pick([name] if name else [])[0]
    stack = project.stack(cpu=False)
    if not engine.containers(stack, [service.name]):
        raise JlcomposeError(
            f"the {service.name} lab has no container (never started, or removed by `jlcompose down`).",
            hint=f"start it: jlcompose up {service.name}",
        )
    engine.logs(stack, service.name, follow=follow, tail=tail, on_line=console.data)
    return 0
