"""`pipreq`: install packages into the running lab, then record them in its requirements file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from jlcompose import console
from jlcompose.core.includes import include_paths
from jlcompose.core.pkgargs import validate_argument
from jlcompose.core.requirements import Change, edit, has_hashes, requirement_lines
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import EngineError, InstallFailed, RequirementError
from jlcompose.files import atomic_write, locked
from jlcompose.lab import hotinstall
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


@dataclass(frozen=True)
class EditPlan:
    new: str  # the whole new requirements text
    changed: list[str]  # requirement lines written (added or updated), to install
    present: list[str]  # requirements already satisfied by the file, as listed there


def pipreq(
    project: Project,
    engine: Engine | None,
    packages: Sequence[str],
    services: Sequence[Service],
    *,
    install: bool = True,
) -> int:
    """Validate all, then per service under its lock: install into the running lab, then save.

    `engine` is None when no engine answered: the file is still edited.
    """
    reqs = validate(packages)
    for service in services:  # refuse everything refusable before the first change
        plan_edit(service, reqs)
    stack = project.stack(cpu=False) if engine is not None and install else None
    for service in services:
        _apply(project, engine, stack, service, reqs, install=install)
    return 0


def _read(service: Service) -> str:
    try:
        return service.requirements.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise RequirementError(
            f"{service.requirements} is not UTF-8 text; jlcompose won't edit it."
        ) from None


def plan_edit(service: Service, reqs: Sequence[Requirement]) -> EditPlan:
    old = _read(service)
    for path in [service.requirements, *include_paths(service.requirements)]:
        text = old if path == service.requirements else _text(path)
        if has_hashes(text):
            raise RequirementError(
                f"{path} uses pip's hash-checking mode (--hash), where every requirement needs "
                "its hashes, so an added line without them would break the image build.",
                hint="add it with its hashes by hand (e.g. pip-compile --generate-hashes).",
            )
    text, changed, present = old, {}, []
    for req in reqs:
        elsewhere = _listed_elsewhere(service, req)
        if elsewhere:
            present.append(elsewhere)
            continue
        result = edit(text, req)
        text = result.text
        key = canonicalize_name(req.name)
        if result.change is Change.UNCHANGED:
            if key not in changed:
                present.append(result.requirement)
        else:
            changed[key] = result.requirement
    return EditPlan(new=text, changed=list(changed.values()), present=present)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _listed_elsewhere(service: Service, req: Requirement) -> str | None:
    """A package an included (-r/-c) file lists is changed there, never duplicated here."""
    name = canonicalize_name(req.name)
    for path in include_paths(service.requirements):
        found = requirement_lines(_text(path)).get(name)
        if found is None:
            continue
        if req.specifier or req.url:
            raise RequirementError(
                f"{req.name} is listed in {path} (included from {service.requirements}); "
                "change its version there.",
            )
        return f"{found} (in {path.name})"
    return None


def _apply(
    project: Project,
    engine: Engine | None,
    stack: Stack | None,
    service: Service,
    reqs: Sequence[Requirement],
    *,
    install: bool,
) -> None:
    rel = project.relative(service.requirements)
    running = _running(engine, stack, service)
    with locked(hotinstall.requirements_lock(project, service), what=rel):
        p = plan_edit(service, reqs)  # again, under the lock: another pipreq may have written since
        for line in p.present:
            console.ok(f"{line} is already in {rel}")
        if not p.changed:
            return
        what = ", ".join(p.changed)
        if running and engine is not None and stack is not None:
            console.step(f"installing {what} in the running {service.name} lab")
            try:
                hotinstall.install(project, engine, stack, service, p.changed)
            except InstallFailed:
                console.info(f"{rel} was left unchanged.")
                raise
        atomic_write(service.requirements.resolve(), p.new.encode("utf-8"))
        if running:
            hotinstall.remember_installed(project, service, p.changed, applied=p.new)
    if running:
        it = "them" if len(p.changed) > 1 else "it"
        console.ok(f"installed {what} in the {service.name} lab and added {it} to {rel}")
        console.info(f"The image gets it at the next `jlcompose up {service.name}`.")
        return
    console.ok(f"added {what} to {rel}")
    if running is False:
        console.info(f"The {service.name} lab is not running.")
    elif install:
        console.info("If the lab runs, it does not have it yet.")
    else:
        console.info("The running lab (if any) was left alone (--no-install).")
    console.info(f"The next `jlcompose up {service.name}` builds it into the image.")


def _running(engine: Engine | None, stack: Stack | None, service: Service) -> bool | None:
    """Whether the lab runs; None when nobody asked or the engine could not tell (then only save)."""
    if engine is None or stack is None:
        return None
    try:
        return hotinstall.lab_running(engine, stack, service.name)
    except EngineError as exc:
        console.warn(f"could not check whether the {service.name} lab runs: {exc.message}")
        return None
