"""Pure: the installer's failure in a lab (pip's or uv's words), said in one sentence with the way out.

Both installers' reports come in: uv (what labs use) and pip (images without uv). When uv
fails, the lab's installer adds pip's own wording for the image's pins that the report names
(`The user requested (constraint) torch==...`, inlab/install.py), so a pin conflict reads the
same whichever installer ran.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from jlcompose.errors import InstallFailed

DETAIL_LINES = 25
# NVIDIA builds these for the image; replacing them (by dropping their pin) breaks the image
NVIDIA_BUILT = re.compile(
    r"^(torch|torchvision|torchaudio|tensorflow|tensorrt|triton|transformer-engine|apex|nvidia-.*|cupy.*|jax|jaxlib|flash-attn)$"
)
_CONSTRAINT = re.compile(r"The user requested \(constraint\) (\S+)")
_MISSING = re.compile(r"No matching distribution found for (\S+)")
_VERSIONS = re.compile(
    r"Could not find a version that satisfies the requirement \S+ \(from versions: ([^)]*)\)"
)
_UV_UNKNOWN = re.compile(r"Because (\S+) was not found in the package registry")
_UV_NO_VERSION = re.compile(r"Because there is no version of (\S+?)(?: and| we|,|$)")
_UV_DEPENDS = re.compile(r"(\S+?)==?(\S+?) depends on (\S+?)(?: and| we|,|\.$|$)")
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|CERTIFICATE_VERIFY_FAILED|SSLError|ProxyError|Could not fetch URL|Read timed out"
    r"|Failed to fetch|error sending request|dns error|Connection refused|invalid peer certificate"
    r"|UnknownIssuer|tcp connect error|Could not connect",
)


def _installer(text: str) -> str:
    return "uv" if "No solution found when resolving" in text or "Using Python " in text else "pip"


def _name(spec: str) -> str:
    return re.split(r"[=<>!~\[; @]", spec, maxsplit=1)[0]


def explain_failure(
    service: str,
    requirements: Sequence[str],
    lines: Sequence[str],
    rc: int,
    *,
    dockerfile: str = "docker_files/Dockerfile",
) -> InstallFailed:
    """One sentence for what the installer said, the ways forward as hint, its report as detail."""
    text = "\n".join(lines)
    what = ", ".join(requirements)
    tool = _installer(text)
    pins = [m.group(1) for m in _CONSTRAINT.finditer(text)]
    if pins:
        return _constraint_conflict(tool, requirements, pins, lines)
    if m := _UV_UNKNOWN.search(text):
        return _no_such_package(tool, m.group(1), lines)
    if m := _UV_NO_VERSION.search(text):
        name = _name(m.group(1))
        return InstallFailed(
            f"no release of {name} matches {m.group(1)}.",
            hint=f"see the releases on https://pypi.org/project/{name}/#history and pick one.",
            detail=_tail(lines, 6),
        )
    if "ResolutionImpossible" in text or "conflicting dependencies" in text or "No solution found" in text:
        return InstallFailed(
            f"{tool} cannot install {what}: the requested versions conflict ({_causes(lines)}).",
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
    if missing := _MISSING.search(text):
        return _no_distribution(missing.group(1), text, lines)
    if "externally-managed-environment" in text:
        return InstallFailed(
            f"the {service} lab's Python refuses pip installs (externally managed).",
            hint=f"set PIP_BREAK_SYSTEM_PACKAGES=1 in {dockerfile} (the stock one does).",
            detail=_tail(lines),
        )
    return InstallFailed(
        f"{tool} exited with code {rc} while installing {what} in the {service} lab.",
        hint=f"the lines above are {tool}'s own report.",
        detail=_tail(lines),
    )


def _constraint_conflict(
    tool: str, requirements: Sequence[str], pins: list[str], lines: Sequence[str]
) -> InstallFailed:
    what = ", ".join(requirements)
    pinned = ", ".join(dict.fromkeys(pins))
    causes = _causes(lines, skip_constraints=True, asked=requirements)
    because = f", but {causes}" if causes else ""
    names = list(dict.fromkeys(_name(pin).lower().replace("_", "-") for pin in pins))
    asked = ", ".join(_name(r) for r in requirements)
    nvidia = [n for n in names if NVIDIA_BUILT.match(n)]
    own = [n for n in nvidia if n in {_name(r).lower().replace("_", "-") for r in requirements}]
    if own:
        way = (
            f"{', '.join(own)} is NVIDIA's own build in this image, which jlcompose never replaces: "
            f"leave its version to the image, or choose a base image with the one you need "
            f"(JLC_TORCH_BASE / JLC_TF_BASE in .env)."
        )
    elif nvidia:
        way = (
            f"pick a version of {asked} made for the image's {', '.join(nvidia)} (often an older "
            f"release), or a newer base image; {', '.join(nvidia)} is NVIDIA's own build, so do not "
            "unpin it."
        )
    else:
        flags = " ".join(f"--unpin {n}" for n in names)
        way = (
            f"pick a version of {asked} that works with {pinned}; or drop the image's pin: "
            f"`jlcompose pipreq {flags} {' '.join(shlex.quote(r) for r in requirements)}` "
            "(kept as `unpin` in [tool.jlcompose]; see docs/pipreq.md)."
        )
    return InstallFailed(
        f"{tool} cannot install {what}: the image pins {pinned} in its pip constraint file "
        f"($PIP_CONSTRAINT){because}.",
        hint=way,
        detail=_trace(lines),
    )


def _no_such_package(tool: str, name: str, lines: Sequence[str]) -> InstallFailed:
    return InstallFailed(
        f"{tool} found no package called {name} (or no release of it for the lab's Python).",
        hint=f"check the spelling on https://pypi.org/project/{name}/ .",
        detail=_tail(lines, 6),
    )


def _no_distribution(spec: str, text: str, lines: Sequence[str]) -> InstallFailed:
    name = _name(spec)
    versions = _VERSIONS.search(text)
    found = [v.strip() for v in versions.group(1).split(",")] if versions else []
    found = [v for v in found if v and v != "none"]
    if found:
        return InstallFailed(
            f"no release of {name} matches {spec} (latest: {', '.join(found[-6:])}).",
            hint=f"pick one of those versions, e.g. `jlcompose pipreq {name}=={found[-1]}`.",
            detail=_tail(lines, 6),
        )
    return _no_such_package("pip", name, lines)


def _causes(lines: Sequence[str], *, skip_constraints: bool = False, asked: Sequence[str] = ()) -> str:
    """pip's indented lines under 'The conflict is caused by:', or uv's 'X depends on Y'.

    Lines that only repeat what was asked (`The user requested six==1.16.0`) say nothing new.
    """
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
            if line.strip() in {f"The user requested {a}" for a in asked}:
                continue
            out.append(re.sub(r"^The user requested ", "you asked for ", line.strip()))
    if not out:  # uv: "Because torchvision==0.24.0 depends on torch==2.9.0 and ..."
        text = " ".join(line.strip() for line in lines)
        out = [f"{m.group(1)} {m.group(2)} depends on {m.group(3)}" for m in _UV_DEPENDS.finditer(text)]
        out = list(dict.fromkeys(re.sub(r"^Because ", "", o) for o in out))
    return "; ".join(out)


def _trace(lines: Sequence[str]) -> str:
    """The resolver's report from its first error line, without pip's generic advice."""
    start = next((i for i, ln in enumerate(lines) if ln.startswith(("ERROR:", "error:"))), 0)
    kept: list[str] = []
    for line in lines[start:]:
        if line.startswith(("To fix this", "Additionally, some packages")):
            break
        if line.strip():
            kept.append(line)
    return "\n".join(kept[:DETAIL_LINES])


def _tail(lines: Sequence[str], count: int = DETAIL_LINES) -> str:
    return "\n".join([ln for ln in lines if ln.strip()][-count:])
