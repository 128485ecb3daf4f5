"""Installing packages into a running lab with pip, and explaining pip's failures."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jlcompose import console
from jlcompose.compose import Engine
from jlcompose.errors import InstallFailed
from jlcompose.project import Project, Service

# pip reads these from the environment; unknown ones are ignored by older pips, unlike flags
PIP_ENV = {
    "PIP_ROOT_USER_ACTION": "ignore",  # we are root on purpose (see install)
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",  # bars are noise line by line; we show our own spinner
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
DETAIL_LINES = 25
_CONSTRAINT = re.compile(r"The user requested \(constraint\) (\S+)")
_MISSING = re.compile(r"No matching distribution found for (\S+)")
_VERSIONS = re.compile(
    r"Could not find a version that satisfies the requirement \S+ \(from versions: ([^)]*)\)"
)
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|CERTIFICATE_VERIFY_FAILED|SSLError|ProxyError|Could not fetch URL|Read timed out",
)


def lock_path(project: Project, service: Service) -> Path:
    """The lock held around every read-modify-write of the requirements file (pipreq, watch)."""
    return project.state_dir / f"requirements-{service.name}.lock"


def lab_running(engine: Engine, service_name: str) -> bool:
    return any(c.running for c in engine.containers([service_name]))


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
        if on_line is None
        else nullcontext()
    )
    lines: list[str] = []
    with status:
        rc = _drain(engine.exec_stream(service.name, pip_argv(requirements, env), user="0"), lines, show)
    if rc != 0:
        raise explain_failure(project, service, requirements, lines, rc)


def _drain(stream: Iterator[str], lines: list[str], show: Callable[[str], None]) -> int:
    # pip's error report is shown as our explanation (with the trace as detail), not live
    live = True
    while True:
        try:
            line = next(stream)
        except StopIteration as stop:
            return int(stop.value or 0)
        lines.append(line)
        live = live and not line.startswith("ERROR:")
        if live:
            show(line)


def _show(line: str) -> None:
    console.err.print(line, style="dim", markup=False, highlight=False)


def record(
    project: Project, service: Service, requirements: Sequence[str], *, applied: str | None = None
) -> None:
    """Remember what the running lab has beyond its image.

    `applied` is the requirements text the install answered to; by default the file on disk
    now (a watcher passes the text it read, so a save during the install is not swallowed).
    """
    if applied is None:
        try:
            applied = service.requirements.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            applied = None

    def change(state: dict[str, Any]) -> None:
        entry = state.setdefault("services", {}).setdefault(service.name, {})
        new = {_name(r): r for r in requirements}
        kept = [r for r in entry.get("hot_installed", []) if _name(r) not in new]
        entry["hot_installed"] = kept + list(new.values())
        if applied is not None:
            entry["applied"] = applied

    project.update_state(change)


def _name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement


# -- explaining failures -----------------------------------------------------------------


def explain_failure(
    project: Project, service: Service, requirements: Sequence[str], lines: Sequence[str], rc: int
) -> InstallFailed:
    """One sentence for what pip said, the ways forward as hint, pip's report trimmed as detail."""
    text = "\n".join(lines)
    what = ", ".join(requirements)
    pins = [m.group(1) for m in _CONSTRAINT.finditer(text)]
    if pins:
        return _constraint_conflict(project, requirements, pins, lines)
    if "ResolutionImpossible" in text or "conflicting dependencies" in text:
        return InstallFailed(
            f"pip cannot install {what}: the requested versions conflict ({_causes(lines)}).",
            hint="loosen one of the pins named above, then run pipreq again.",
            detail=_trace(lines),
        )
    if _NETWORK.search(text):
        return InstallFailed(
            f"the {service.name} lab could not reach the package index to install {what}.",
            hint="check the network or proxy; behind a TLS-intercepting proxy put its CA "
            "certificate in docker_files/certs/ and run `jlcompose up` to rebuild.",
            detail=_tail(lines),
        )
    missing = _MISSING.search(text)
    if missing:
        return _no_distribution(missing.group(1), text, lines)
    if "externally-managed-environment" in text:
        return InstallFailed(
            f"the {service.name} lab's Python refuses pip installs (externally managed).",
            hint="set PIP_BREAK_SYSTEM_PACKAGES=1 in docker_files/Dockerfile (the stock one does).",
            detail=_tail(lines),
        )
    return InstallFailed(
        f"pip exited with code {rc} while installing {what} in the {service.name} lab.",
        hint="the lines above are pip's own report.",
        detail=_tail(lines),
    )


def _constraint_conflict(
    project: Project, requirements: Sequence[str], pins: list[str], lines: Sequence[str]
) -> InstallFailed:
    what = ", ".join(requirements)
    pinned = ", ".join(dict.fromkeys(pins))
    causes = _causes(lines, skip_constraints=True)
    because = f", but {causes}" if causes else ""
    names = dict.fromkeys(re.split(r"[=<>!~\[; ]", pin, maxsplit=1)[0] for pin in pins)
    # any spelling of the name: constraint files are not always written in canonical form
    sed = " ".join(f"-e '/^{re.sub(r'[-_.]', '[-_.]', n)}==/Id'" for n in names)
    dockerfile = project.config.docker_files / "Dockerfile"
    return InstallFailed(
        f"pip cannot install {what}: the image pins {pinned} in its pip constraint file "
        f"($PIP_CONSTRAINT){because}.",
        hint=f"pick a version of {_names(requirements)} that works with {pinned}; or, knowing "
        f"NGC tested its torch build with that pin, drop it at build time: add `RUN sed -i {sed} "
        f'"$PIP_CONSTRAINT"` to {dockerfile} above its requirements step, then `jlcompose up`.',
        detail=_trace(lines),
    )


def _names(requirements: Sequence[str]) -> str:
    return ", ".join(re.split(r"[=<>!~\[; @]", r, maxsplit=1)[0] for r in requirements)


def _no_distribution(spec: str, text: str, lines: Sequence[str]) -> InstallFailed:
    name = re.split(r"[=<>!~\[; ]", spec, maxsplit=1)[0]
    versions = _VERSIONS.search(text)
    found = [v.strip() for v in versions.group(1).split(",")] if versions else []
    found = [v for v in found if v and v != "none"]
    if found:
        return InstallFailed(
            f"no release of {name} matches {spec} (latest: {', '.join(found[-6:])}).",
            hint=f"pick one of those versions, e.g. `jlcompose pipreq {name}=={found[-1]}`.",
            detail=_tail(lines, 6),
        )
    return InstallFailed(
        f"pip found no package called {name} (or no release of it for the lab's Python).",
        hint=f"check the spelling on https://pypi.org/project/{name}/ .",
        detail=_tail(lines, 6),
    )


def _causes(lines: Sequence[str], *, skip_constraints: bool = False) -> str:
    """The indented lines under pip's 'The conflict is caused by:'."""
    out: list[str] = []
    inside = False
    for line in lines:
        if line.strip().startswith("The conflict is caused by"):
            inside = True
            continue
        if inside:
            if not line.startswith((" ", "\t")) or not line.strip():
                break
            if skip_constraints and "(constraint)" in line:
                continue
            out.append(re.sub(r"^The user requested ", "you asked for ", line.strip()))
    return "; ".join(out)


def _trace(lines: Sequence[str]) -> str:
    """pip's resolver report from its first ERROR line, without its generic advice."""
    start = next((i for i, ln in enumerate(lines) if ln.startswith("ERROR:")), 0)
    kept: list[str] = []
    for line in lines[start:]:
        if line.startswith(("To fix this", "Additionally, some packages")):
            break
        if line.strip():
            kept.append(line)
    return "\n".join(kept[:DETAIL_LINES])


def _tail(lines: Sequence[str], count: int = DETAIL_LINES) -> str:
    return "\n".join([ln for ln in lines if ln.strip()][-count:])
