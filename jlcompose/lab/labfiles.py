"""jlcompose's own code that runs inside the labs, copied into docker_files/lab/lib/ for the build.

The install agent, the installer and %pipreq (jlcompose/inlab/) edit requirements files with
the same modules as the CLI (core/, errors.py, files.py, state.py): those very files are
copied here before each build and become part of the image hash, so upgrading jlcompose
rebuilds the labs with the new code. The folder holds a `.gitignore` of its own: it is
jlcompose's output, not part of your project.
"""

from __future__ import annotations

from pathlib import Path

from jlcompose.files import atomic_write
from jlcompose.project import Project

PACKAGE = Path(__file__).resolve().parent.parent
SHIPPED = ("__init__.py", "errors.py", "files.py", "state.py", "core", "inlab")
IGNORE = b"# written by jlcompose before each build: its own code for the lab image\n*\n"


def lib_dir(project: Project) -> Path:
    return project.docker_files / "lab" / "lib"


def wanted() -> dict[str, bytes]:
    """Relative path under lib/ -> content, for every file the labs need."""
    out: dict[str, bytes] = {".gitignore": IGNORE}
    for name in SHIPPED:
        source = PACKAGE / name
        paths = [source] if source.is_file() else sorted(source.glob("*.py"))
        for path in paths:
            out[f"jlcompose/{path.relative_to(PACKAGE).as_posix()}"] = path.read_bytes()
    return out


def _present(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def stale(project: Project) -> bool:
    """Whether sync() would change lib/ (read only: `up`'s fast path asks this)."""
    return _present(lib_dir(project)) != wanted()


def sync(project: Project) -> None:
    root = lib_dir(project)
    want = wanted()
    have = _present(root)
    for rel in set(have) - set(want):
        (root / rel).unlink()
    for rel, data in want.items():
        if have.get(rel) != data:
            atomic_write(root / rel, data, mode=0o644)
