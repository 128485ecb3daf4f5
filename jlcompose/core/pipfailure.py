"""Pure: pip's (and uv's) failures in a lab, said in one sentence with the way forward."""

from __future__ import annotations

import re
from collections.abc import Sequence

from jlcompose.errors import InstallFailed

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


def explain_failure(
    service: str,
    requirements: Sequence[str],
    lines: Sequence[str],
    rc: int,
    *,
    dockerfile: str = "docker_files/Dockerfile",
) -> InstallFailed:
    """One sentence for what pip said, the ways forward as hint, pip's report trimmed as detail."""
    text = "\n".join(lines)
    what = ", ".join(requirements)
    pins = [m.group(1) for m in _CONSTRAINT.finditer(text)]
    if pins:
        return _constraint_conflict(requirements, pins, lines, dockerfile)
    if "ResolutionImpossible" in text or "conflicting dependencies" in text:
        return InstallFailed(
            f"pip cannot install {what}: the requested versions conflict ({_causes(lines)}).",
            hint="loosen one of the pins named above, then run pipreq again.",
            detail=_trace(lines),
        )
    if _NETWORK.search(text):
        return InstallFailed(
            f"the {service} lab could not reach the package index to install {what}.",
            hint="check the network or proxy; behind a TLS-intercepting proxy put its CA "
            "certificate in docker_files/certs/ and run `jlcompose up` to rebuild.",
            detail=_tail(lines),
        )
    missing = _MISSING.search(text)
    if missing:
        return _no_distribution(missing.group(1), text, lines)
    if "externally-managed-environment" in text:
        return InstallFailed(
            f"the {service} lab's Python refuses pip installs (externally managed).",
            hint="set PIP_BREAK_SYSTEM_PACKAGES=1 in docker_files/Dockerfile (the stock one does).",
            detail=_tail(lines),
        )
    return InstallFailed(
        f"pip exited with code {rc} while installing {what} in the {service} lab.",
        hint="the lines above are pip's own report.",
        detail=_tail(lines),
    )


def _constraint_conflict(
    requirements: Sequence[str], pins: list[str], lines: Sequence[str], dockerfile: str
) -> InstallFailed:
    what = ", ".join(requirements)
    pinned = ", ".join(dict.fromkeys(pins))
    causes = _causes(lines, skip_constraints=True)
    because = f", but {causes}" if causes else ""
    names = dict.fromkeys(re.split(r"[=<>!~\[; ]", pin, maxsplit=1)[0] for pin in pins)
    # any spelling of the name: constraint files are not always written in canonical form
    sed = " ".join(f"-e '/^{re.sub(r'[-_.]', '[-_.]', n)}==/Id'" for n in names)
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
