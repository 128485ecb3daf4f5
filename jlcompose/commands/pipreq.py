"""`jlcompose pipreq`: install packages into the running lab and record them in requirements.txt."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from jlcompose import console
from jlcompose.compose import Engine
from jlcompose.errors import (
    ComposeFailed,
    EngineError,
    InstallFailed,
    JlcomposeError,
    RequirementError,
)
from jlcompose.files import atomic_write, locked
from jlcompose.hotinstall import install as pip_install
from jlcompose.hotinstall import lab_running, lock_path, record
from jlcompose.includes import include_paths
from jlcompose.pkgargs import validate_argument
from jlcompose.project import Project, Service, make_engine, open_project
from jlcompose.requirements import (
    Change,
    edit,
    has_hashes,
    requirement_lines,
)

HELP = "install packages into the running lab and add them to its requirements.txt"
DESCRIPTION = """\
Add (or update) packages in docker_files/<service>/requirements.txt. When the lab runs,
pip installs them there first, live, so they import at once; the file changes only when
pip succeeded. When it does not run, the next `jlcompose up` builds them into the image.
Comments, order, options and line endings of the file stay as they were.

examples:
  jlcompose pipreq transformers              add to the torch lab (the default)
  jlcompose pipreq 'numpy==1.26.4' six       pin one, add another
  jlcompose pipreq --service tf keras-cv     the TensorFlow lab
  jlcompose pipreq --all rich                every lab of this project
  jlcompose pipreq --no-install polars       only edit the file
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("packages", nargs="+", metavar="PKG", help="requirement, e.g. numpy or 'numpy==1.26.4'")
    which = p.add_mutually_exclusive_group()
    which.add_argument("-s", "--service", help="the lab to change (default: the first default service)")
    which.add_argument("--all", action="store_true", help="every service of this project")
    p.add_argument(
        "--no-install", action="store_true", help="only edit the file; leave the running lab alone"
    )


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    validate(args.packages)  # before make_engine, which already writes the token file
    services = choose(project, args.service, all_services=args.all)
    engine: Engine | None = None
    if not args.no_install:
        try:
            engine = make_engine(project)
        except JlcomposeError as exc:
            console.warn(f"cannot check the running lab: {exc.message}")
    return pipreq(project, engine, args.packages, services, install=not args.no_install)


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
class Plan:
    new: str
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
    """Validate all, then per service under its lock: install into the running lab, then save."""
    reqs = validate(packages)
    for service in services:  # refuse everything refusable before the first change
        plan(service, reqs)
    for service in services:
        _apply(project, engine, service, reqs, install=install)
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


def plan(service: Service, reqs: Sequence[Requirement]) -> Plan:
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
    return Plan(new=text, changed=list(changed.values()), present=present)


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
    service: Service,
    reqs: Sequence[Requirement],
    *,
    install: bool,
) -> None:
    rel = _rel(project, service.requirements)
    running = _running(engine, service) if install else None
    with locked(lock_path(project, service), what=str(rel)):
        p = plan(service, reqs)  # again, under the lock: another pipreq may have written since
        for line in p.present:
            console.ok(f"{line} is already in {rel}")
        if not p.changed:
            return
        what = ", ".join(p.changed)
        if running and engine is not None:
            console.step(f"installing {what} in the running {service.name} lab")
            try:
                pip_install(project, engine, service, p.changed)
            except InstallFailed:
                console.info(f"{rel} was left unchanged.")
                raise
        atomic_write(service.requirements.resolve(), p.new.encode("utf-8"))
        if running:
            record(project, service, p.changed)
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


def _running(engine: Engine | None, service: Service) -> bool | None:
    """Whether the lab runs; None when the engine could not tell (we then only save the file)."""
    if engine is None:
        return None
    try:
        return lab_running(engine, service.name)
    except (EngineError, ComposeFailed) as exc:
        console.warn(f"could not check whether the {service.name} lab runs: {exc.message}")
        return None


def _rel(project: Project, path: Path) -> Path:
    try:
        return path.relative_to(project.root)
    except ValueError:
        return path
