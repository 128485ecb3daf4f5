"""Installing packages into a running lab, and remembering what it has beyond its image."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jlcompose import console
from jlcompose.core.pipfailure import explain_failure
from jlcompose.engine.api import Engine, Stack
from jlcompose.project import Project, Service
from jlcompose.state import State

# pip reads these from the environment; unknown ones are ignored by older pips, unlike flags
PIP_ENV = {
    "PIP_ROOT_USER_ACTION": "ignore",  # we are root on purpose (see install)
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",  # bars are noise line by line; we show our own spinner
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def requirements_lock(project: Project, service: Service) -> Path:
    """The lock held around every read-modify-write of a requirements file (pipreq, watch)."""
    return project.state.lock_file(f"requirements-{service.name}")


def lab_running(engine: Engine, stack: Stack, service_name: str) -> bool:
    return any(c.running for c in engine.containers(stack, [service_name]))


def pip_argv(requirements: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    variables = {**PIP_ENV, **(env or {})}
    return [
        "env",
        *(f"{k}={v}" for k, v in variables.items()),
        "python3",
        "-m",
        "pip",
        "install",
        *requirements,
    ]


def install(
    project: Project,
    engine: Engine,
    stack: Stack,
    service: Service,
    requirements: Sequence[str],
    *,
    on_line: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """pip-install into the running container, streaming pip's output; raises InstallFailed.

    Runs as root (user "0"): the lab runs as the host user, who may not write site-packages.
    `env` adds variables to pip's environment (tests use it to set PIP_CONSTRAINT).
    """
    show = on_line or _show
    status: AbstractContextManager[Any] = (
        console.err.status(f"pip install {' '.join(requirements)} in the {service.name} lab")
        if on_line is None and console.is_terminal()
        else nullcontext()
    )
    lines: list[str] = []
    live = [True]  # pip's error report is shown as our explanation (with the trace as detail)

    def feed(line: str) -> None:
        lines.append(line)
        live[0] = live[0] and not line.startswith("ERROR:")
        if live[0]:
            show(line)

    with status:
        rc = engine.exec(stack, service.name, pip_argv(requirements, env), user="0", on_line=feed)
    if rc != 0:
        raise explain_failure(
            service.name, requirements, lines, rc, dockerfile=str(project.config.docker_files / "Dockerfile")
        )


def _show(line: str) -> None:
    console.dim(line)


def remember_installed(
    project: Project, service: Service, requirements: Sequence[str], *, applied: str
) -> None:
    """Record packages installed live, and the requirements text the running lab now answers to."""
    new = {_name(r): r for r in requirements}

    def change(state: State) -> None:
        entry = state.service(service.name)
        kept = [r for r in entry.hot_installed if _name(r) not in new]
        entry.hot_installed = kept + list(new.values())
        entry.removed = [n for n in entry.removed if n not in new]  # removed once, listed again
        entry.applied = applied

    project.state.update(change)


def remember_needs_build(project: Project, service: Service, removed: Sequence[str], *, applied: str) -> None:
    """Record that the running lab differs from its file in ways only a build fixes."""
    gone = set(removed)

    def change(state: State) -> None:
        entry = state.service(service.name)
        entry.removed = sorted(set(entry.removed) | gone)
        entry.hot_installed = [r for r in entry.hot_installed if _name(r) not in gone]
        entry.applied = applied

    project.state.update(change)


def _name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement
