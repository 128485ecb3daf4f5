"""`pipreq`: install packages into the running lab, then record them in its requirements file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from packaging.requirements import Requirement

from jlcompose import console
from jlcompose.core.pkgargs import validate_argument
from jlcompose.core.reqfile import describe, facts, plan_edit
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import EngineError, JlcomposeError, RequirementError
from jlcompose.inlab import pipreq as shared
from jlcompose.lab import hotinstall, lock
from jlcompose.project import Project, Service


def choose(project: Project, name: str | None, *, all_services: bool) -> list[Service]:
    if all_services:
        if not project.services:
            raise RequirementError(
                f"this project has no service: no {project.config.docker_files}/*/requirements.txt."
            )
        return list(project.services.values())
    return [project.service(name or project.config.default_services[0])]


def validate(packages: Sequence[str]) -> list[Requirement]:
    """Every argument checked before anything is touched; all bad ones are reported."""
    errors: list[RequirementError] = []
    reqs: list[Requirement] = []
    for arg in packages:
        try:
            reqs.append(validate_argument(arg))
        except RequirementError as exc:
            errors.append(exc)
    for earlier in errors[:-1]:
        console.error(earlier.message)
    if errors:
        raise errors[-1]
    return reqs


def pipreq(
    project: Project,
    engine: Engine | None,
    packages: Sequence[str],
    services: Sequence[Service],
    *,
    install: bool = True,
    unpin: Sequence[str] = (),
    as_json: bool = False,
) -> int:
    """Validate all, then per service under its lock: install into the running lab, then save.

    `engine` is None when no engine answered: the file is still edited. `as_json`: what was
    done, per service, as one JSON object on stdout (the status lines stay on stderr).
    """
    reqs = validate(packages)
    for service in services:  # refuse everything refusable before the first change
        plan_edit(service.requirements, reqs)
    stack = project.stack(cpu=False) if engine is not None and install else None
    done = [
        _apply(project, engine, stack, service, reqs, install=install, unpin=unpin) for service in services
    ]
    if as_json:
        console.data(json.dumps({"services": done}, indent=2))
    return 0


def _apply(
    project: Project,
    engine: Engine | None,
    stack: Stack | None,
    service: Service,
    reqs: Sequence[Requirement],
    *,
    install: bool,
    unpin: Sequence[str],
) -> dict[str, Any]:
    rel = project.relative(service.requirements)
    running = _running(engine, stack, service)

    def install_here(lines: list[str]) -> None:
        assert engine is not None and stack is not None
        hotinstall.install(project, engine, stack, service, lines, unpin=unpin)

    def relock() -> None:
        assert engine is not None and stack is not None
        try:
            lock.relock(project, engine, stack, service)
        except JlcomposeError as exc:  # installed and saved all the same: only the lock lags
            console.warn(f"could not lock again ({exc.message}); the next `up` builds from requirements.txt")

    plan = shared.apply(
        service.requirements,
        reqs,
        state=project.state,
        service=service.name,
        shown_as=rel,
        install=install_here if running else None,
        say=say,
        unpin=unpin,
        relock=relock if running else None,
    )
    result = {
        "service": service.name,
        "requirements": rel,
        **facts(plan),
        "installed": bool(running and plan.changed),  # in the running lab, now
        "lab_running": running,  # None: not asked (--no-install) or the engine could not tell
    }
    if not plan.changed:
        return result
    done = describe(plan)
    if running:
        console.ok(f"installed {', '.join(plan.changed)} in the {service.name} lab; {rel}: {done}")
        console.info(f"The image gets it at the next `jlcompose up {service.name}`.")
        return result
    console.ok(f"{rel}: {done}")
    if lock.lock_path(service).is_file():
        console.info(
            f"{project.relative(lock.lock_path(service))} is now older than {service.requirements.name}: "
            f"the next `jlcompose up` builds from {service.requirements.name}; `jlcompose lock "
            f"{service.name}` once the lab runs locks again."
        )
    if running is False:
        console.info(f"The {service.name} lab is not running.")
    elif install:
        console.info("If the lab runs, it does not have it yet.")
    else:
        console.info("The running lab (if any) was left alone (--no-install).")
    console.info(f"The next `jlcompose up {service.name}` builds it into the image.")
    return result


def say(kind: str, text: str) -> None:
    """A status line from the shared pipreq steps (inlab/pipreq.py), or from a lab's agent."""
    {"step": console.step, "ok": console.ok, "warn": console.warn, "error": console.error}.get(
        kind, console.info
    )(text)


def _running(engine: Engine | None, stack: Stack | None, service: Service) -> bool | None:
    """Whether the lab runs; None when nobody asked or the engine could not tell (then only save)."""
    if engine is None or stack is None:
        return None
    try:
        return hotinstall.lab_running(engine, stack, service.name)
    except EngineError as exc:
        console.warn(f"could not check whether the {service.name} lab runs: {exc.message}")
        return None
