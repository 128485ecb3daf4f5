"""Dropping pins from the image's pip constraint file: `unpin = [...]` in [tool.jlcompose].

NGC images pin every package they ship through PIP_CONSTRAINT. Public Dockerfiles on NGC
bases edit that file with `sed` when a pin is in the way; this does the same, by name (any
spelling), at build time (`python3 -m jlcompose.inlab.unpin NAME...`, a Dockerfile step) and,
for a hot install, on a copy (`filtered_copy`), so the running lab changes only once the
install worked.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def without(text: str, names: Iterable[str]) -> str:
    """The constraint file's text with every line pinning one of `names` left out."""
    drop = {canonical(n) for n in names}
    kept = []
    for line in text.splitlines(keepends=True):
        m = _NAME.match(line.split("#", 1)[0])
        if m is None or canonical(m.group(1)) not in drop:
            kept.append(line)
    return "".join(kept)


def constraint_paths(environ: Mapping[str, str]) -> list[Path]:
    return [Path(c) for c in environ.get("PIP_CONSTRAINT", "").split() if os.path.isfile(c)]


def filtered_copy(names: Sequence[str], folder: str) -> str:
    """PIP_CONSTRAINT's files without those pins, as new files in `folder`: a value for PIP_CONSTRAINT."""
    out = []
    for path in constraint_paths(os.environ):
        fd, copy = tempfile.mkstemp(prefix="constraint-", suffix=".txt", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(without(path.read_text(encoding="utf-8", errors="replace"), names))
        out.append(copy)
    return " ".join(out)


def apply(names: Sequence[str]) -> list[str]:
    """Drop the pins in place (as root, in the image); the pins that were dropped."""
    dropped = []
    for path in constraint_paths(os.environ):
        old = path.read_text(encoding="utf-8", errors="replace")
        new = without(old, names)
        if new != old:
            gone = set(old.splitlines()) - set(new.splitlines())
            dropped.extend(sorted(line.strip() for line in gone))
            path.write_text(new, encoding="utf-8")
    return dropped


def main(argv: Sequence[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad:
        print(f"jlcompose unpin: not a package name: {' '.join(bad)}", file=sys.stderr)
        return 2
    for pin in apply(names):
        print(f"jlcompose unpin: dropped {pin} from the image's pip constraints")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
