"""Installing packages into a running lab from the host: through its agent, else `docker exec`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from jlcompose import console
from jlcompose.core.pipfailure import explain_failure
from jlcompose.engine.api import Engine, Stack
from jlcompose.inlab import pipreq as shared
from jlcompose.inlab.install import PIP_ENV
from jlcompose.lab import agentclient
from jlcompose.project import Project, Service

LAB_LIB = "/opt/jlcompose/lab/lib"
# Without an agent to ask: the lab's installer (uv, the image's constraints) when the image has
# jlcompose's lab code, else pip as jlcompose 0.1 did. The requirements are "$@", never code.
_EXEC = (
    f'if [ -d {LAB_LIB}/jlcompose ]; then PYTHONPATH={LAB_LIB} exec python3 -m jlcompose.inlab.install "$@"; '
    f'else exec env {" ".join(f"{k}={v}" for k, v in PIP_ENV.items())} python3 -m pip install "$@"; fi'
)


def requirements_lock(project: Project, service: Service) -> Path:
    """The lock held around every read-modify-write of a requirements file (pipreq, watch, agent)."""
    return shared.lock_file(project.state, service.name)


def lab_running(engine: Engine, stack: Stack, service_name: str) -> bool:
    return any(c.running for c in engine.containers(stack, [service_name]))


def exec_argv(requirements: Sequence[str], unpin: Sequence[str] = ()) -> list[str]:
    flags = [arg for name in unpin for arg in ("--unpin", name)]
    return ["sh", "-c", _EXEC, "jlcompose-install", *flags, *requirements]


def install(
    project: Project,
    engine: Engine,
    stack: Stack,
    service: Service,
    requirements: Sequence[str],
    *,
    on_line: Callable[[str], None] | None = None,
    unpin: Sequence[str] = (),
) -> None:
    """Install into the running lab, streaming the installer's output; raises InstallFailed.

    The lab's agent (as root, uv warm) when it answers; else `docker exec -u 0`: the lab runs
    as the host user, who may not write site-packages.
    """
    show = on_line or console.dim
    status: AbstractContextManager[Any] = (
        console.err.status(f"installing {' '.join(requirements)} in the {service.name} lab")
        if on_line is None and console.is_terminal()
        else nullcontext()
    )
    lines: list[str] = []
    live = agentclient.until_error(show)

    def feed(line: str) -> None:
        lines.append(line)
        live(line)

    with status:
        # the agent's socket is in the lab's folder: on a remote engine that is the server's
        # volume, out of reach from here, so installs go through `docker exec` there
        rc = None
        if not engine.endpoint().remote:
            rc = agentclient.install(project.state.path, service.name, requirements, feed, unpin=unpin)
        if rc is None:
            rc = engine.exec(stack, service.name, exec_argv(requirements, unpin), user="0", on_line=feed)
    if rc != 0:
        dockerfile = str(project.config.docker_files / "Dockerfile")
        raise explain_failure(service.name, requirements, lines, rc, dockerfile=dockerfile)


def remember_installed(
    project: Project, service: Service, requirements: Sequence[str], *, applied: str
) -> None:
    shared.remember_installed(project.state, service.name, requirements, applied=applied)


def remember_needs_build(project: Project, service: Service, removed: Sequence[str], *, applied: str) -> None:
    shared.remember_needs_build(project.state, service.name, removed, applied=applied)
