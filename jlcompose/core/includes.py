"""Pure: the files a requirements file pulls in with -r/-c (no packaging import: `up` uses it)."""

from __future__ import annotations

import re
from pathlib import Path

from jlcompose.core.reqlines import logical, parse_options, physical

_SCHEME = re.compile(r"^(http|https|file):", re.IGNORECASE)  # pip's SCHEME_RE: not a local path


def includes(path: Path, _seen: set[tuple[Path, bool]] | None = None) -> list[tuple[Path, bool]]:
    """(file, is a constraints file) for each file reached from `path` through -r/-c, recursively.

    As pip's RequirementsFileParser: only an option line (no requirement on it) includes, only
    its first -r (else its first -c) counts, and `-r` inside a `-c` file is a requirements file
    again (pip does not carry "constraint" down). Paths are relative to the including file.
    """
    seen: set[tuple[Path, bool]] = set() if _seen is None else _seen
    out: list[tuple[Path, bool]] = []
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):  # missing, unreadable or not text: nothing to follow
        return out
    for lg in logical(physical(text)):
        if lg.args or not lg.options:
            continue
        opts = parse_options(lg.options)
        if opts is None or not (opts.requirements or opts.constraints):
            continue
        target, constraint = (
            (opts.requirements[0], False) if opts.requirements else (opts.constraints[0], True)
        )
        if _SCHEME.match(target):
            continue
        inc = ((path.parent / target).resolve(), constraint)
        if inc in seen:
            continue
        seen.add(inc)
        out.append(inc)
        out.extend(includes(inc[0], seen))
    return out


def include_paths(path: Path) -> list[Path]:
    """Files reached from `path` through -r/-c lines, recursively (not `path` itself)."""
    out: list[Path] = []
    for inc, _ in includes(path):
        if inc not in out:
            out.append(inc)
    return out
