"""Pure: the files a requirements file pulls in with -r/-c (no packaging import: `up` uses it)."""

from __future__ import annotations

import re
from pathlib import Path

_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(\S+)")


def include_paths(path: Path, _seen: set[Path] | None = None) -> list[Path]:
    """Files reached from `path` through -r/-c lines, recursively (not `path` itself)."""
    seen = set() if _seen is None else _seen
    out: list[Path] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # missing, unreadable or not text: nothing to follow
        return out
    for line in text.splitlines():
        m = _INCLUDE.match(line)
        if not m or "://" in m.group(1):
            continue
        inc = (path.parent / m.group(1)).resolve()
        if inc in seen:
            continue
        seen.add(inc)
        out.append(inc)
        out.extend(include_paths(inc, seen))
    return out
