"""Pure: which files of a project a remote lab's volume mirrors, and what one sync round does.

Each side is a map of relative path -> version (sha256 of the content, `+x` when executable);
`base` is what both sides last agreed on. A path that differs from the base on one side only
changed there and goes to the other; where both sides changed it, the laptop's file stays and
the lab's is kept beside it as a conflict copy. A deletion travels only when the other side
still has the agreed version (an edit beats a deletion), so a side that was never synced, or a
volume made anew, can never delete files on the other.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MAX_BYTES = 64 * 1024 * 1024  # larger files stay where they are (data belongs in a volume or a cache)
# folders never synced, wherever they are: tools' caches, VCS data, other environments
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".ipynb_checkpoints",
        ".virtual_documents",
        ".venv",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
# paths from the project root never synced: jlcompose's own state on each side (the token, the
# agent's socket, state.json, the lab's JupyterLab settings) and its copy of itself for builds
SKIPPED_PATHS = (".jlcompose", "docker_files/lab/lib")
# `.~name`: the copy JupyterLab keeps while it saves `name`; `.name.*.tmp`: jlcompose's own writes
SKIPPED_NAMES = ("*.pyc", ".DS_Store", "*.swp", ".*.tmp", ".~*", ".Trash-*")
# a file modified this recently may still be half written (JupyterLab writes a new notebook in
# place): it waits for the next round
SETTLE_S = 0.25


def included(rel: str, *, is_dir: bool = False, patterns: Iterable[str] = ()) -> bool:
    """Whether a path (relative to the project root, '/'-separated) is synced."""
    parts = rel.split("/")
    if any(rel == p or rel.startswith(p + "/") for p in SKIPPED_PATHS):
        return False
    if any(part in SKIPPED_DIRS or part.startswith(".Trash-") for part in parts):
        return False
    name = parts[-1]
    if not is_dir and any(fnmatch.fnmatchcase(name, pat) for pat in SKIPPED_NAMES):
        return False
    for pat in patterns:
        pat = pat.rstrip("/")
        if fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(name, pat) or rel.startswith(pat + "/"):
            return False
    return True


def version(digest: str, executable: bool) -> str:
    return digest + ("+x" if executable else "")


def executable(ver: str) -> bool:
    return ver.endswith("+x")


@dataclass
class Plan:
    push: list[str] = field(default_factory=list)  # laptop -> lab
    pull: list[str] = field(default_factory=list)  # lab -> laptop
    delete_remote: list[str] = field(default_factory=list)
    delete_local: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # laptop's stays (pushed); lab's kept as a copy
    agreed: dict[str, str | None] = field(default_factory=dict)  # base entries already equal on both

    @property
    def empty(self) -> bool:
        return not (self.push or self.pull or self.delete_remote or self.delete_local or self.conflicts)


def plan(
    local: Mapping[str, str],
    remote: Mapping[str, str],
    base: Mapping[str, str],
    *,
    unknown: Iterable[str] = (),
) -> Plan:
    """One round. `unknown`: paths a side could not read (too big, no permission): left alone."""
    out = Plan()
    skip = set(unknown)
    for path in sorted({*local, *remote, *base} - skip):
        here, there, agreed = local.get(path), remote.get(path), base.get(path)
        if here == there:
            if agreed != here:
                out.agreed[path] = here
        elif here == agreed:  # only the lab changed it
            (out.pull if there is not None else out.delete_local).append(path)
        elif there == agreed:  # only the laptop changed it
            (out.push if here is not None else out.delete_remote).append(path)
        elif here is None:  # deleted here, edited there: the edit wins
            out.pull.append(path)
        elif there is None:
            out.push.append(path)
        else:
            out.conflicts.append(path)
    return out


def conflict_name(rel: str, stamp: str) -> str:
    """Where the lab's side of a conflict is kept: `nb.ipynb` -> `nb.lab-conflict-STAMP.ipynb`."""
    folder, _, name = rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension (or a dotfile such as .env)
        stem, dot, ext = name, "", ""
    new = f"{stem}.lab-conflict-{stamp}{dot}{ext}"
    return f"{folder}/{new}" if folder else new
