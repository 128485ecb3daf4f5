"""Pure: `requirements.lock`, what a running lab really has, as exact pins a build installs.

`jlcompose lock` freezes the running lab (pip's own `pip freeze`) and keeps every package the
image's constraint file ($PIP_CONSTRAINT) does not already pin: NGC's own packages stay pinned
by NVIDIA's file and are not repeated. The lock names the requirements it was made from (a
digest of requirements.txt as the image hash reads it, so comments do not count); `up` builds
from it only while requirements.txt still says the same, else from requirements.txt with one
sentence saying so.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from jlcompose.core.hashing import normalize_requirements

LOCK_NAME = "requirements.lock"
MARK = "# jlcompose-requirements-sha256: "
# requirements.txt options that say where packages come from: a lock needs them as much
_INDEX = re.compile(
    r"^\s*(?:-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host|--pre|--prefer-binary|"
    r"--only-binary|--no-binary)(?:[\s=]|$)"
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*===?\s*([^\s;#]+)")
_NAMED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_digest(requirements_text: str) -> str:
    return hashlib.sha256(normalize_requirements(requirements_text).encode()).hexdigest()


def made_from(lock_text: str) -> str | None:
    """The requirements digest a lock was made from (None: not written by `jlcompose lock`)."""
    for line in lock_text.splitlines():
        if line.startswith(MARK):
            return line[len(MARK) :].strip() or None
    return None


def applies(lock_text: str, requirements_text: str) -> bool:
    """Whether a build should install the lock: it was made from these very requirements."""
    return made_from(lock_text) == requirements_digest(requirements_text)


def pins(text: str) -> dict[str, str]:
    """`name==version` lines of a constraint or freeze file: canonical name -> version."""
    out = {}
    for line in text.splitlines():
        if m := _PIN.match(line.split("#", 1)[0].strip()):
            out[canonical(m.group(1))] = m.group(2)
    return out


@dataclass(frozen=True)
class Frozen:
    """What the lab has, sorted into what a lock keeps and what it leaves to others."""

    kept: tuple[str, ...]  # lines of the lock: `name==version` or `name @ https://...`
    pinned_by_image: int  # packages the image's constraint file pins already
    skipped: tuple[str, ...]  # installed from a local path or editable: nothing a build could fetch


def sort_freeze(freeze: Iterable[str], constraints: Mapping[str, str]) -> Frozen:
    kept: list[str] = []
    skipped: list[str] = []
    pinned = 0
    for raw in freeze:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-e") or "@ file:" in line:
            skipped.append(line)
            continue
        m = _PIN.match(line) or _NAMED.match(line)
        if m is None:
            skipped.append(line)
            continue
        name = canonical(m.group(1))
        if _PIN.match(line) and constraints.get(name) == m.group(2):
            pinned += 1
            continue
        kept.append(line)
    return Frozen(
        tuple(sorted(kept, key=lambda s: canonical(s.split("=")[0].split("@")[0].strip()))),
        pinned,
        tuple(skipped),
    )


def index_options(requirements_text: str) -> list[str]:
    """requirements.txt's lines that say where packages come from (`--extra-index-url ...`)."""
    return [line.strip() for line in requirements_text.splitlines() if _INDEX.match(line)]


def render(
    frozen: Frozen,
    requirements_text: str,
    *,
    requirements_name: str = "requirements.txt",
    hashed: Sequence[str] = (),
) -> str:
    """The lock file: a header naming its requirements, their index options, then the pins.

    `hashed`: the pins as `uv pip compile --generate-hashes` wrote them (instead of the plain ones).
    """
    options = index_options(requirements_text)
    lines = [
        "# written by `jlcompose lock` from the running lab: every package it has, at its version,",
        f"# but the {frozen.pinned_by_image} that the image's constraint file ($PIP_CONSTRAINT) pins.",
        f"# `jlcompose up` builds from this file while {requirements_name} says what it said then:",
        MARK + requirements_digest(requirements_text),
        *options,
        *(f"# not locked (installed from a local path or editable): {s}" for s in frozen.skipped),
        *(list(hashed) if hashed else frozen.kept),
    ]
    return "\n".join(lines) + "\n"
