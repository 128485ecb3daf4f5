"""Pure: which file events matter, when a burst of them is over, and what a change asks for."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jlcompose.core.requirements import diff

if TYPE_CHECKING:  # watchdog is imported lazily so `jlcompose --help` stays fast
    from watchdog.events import FileSystemEvent

QUIET_S = 0.5  # editors write in bursts (temp file, rename, chmod): act once they are done
MAX_WAIT_S = 10.0  # ...but a file rewritten without pause still gets applied

# Events that never mean new content. Everything else may: which events an editor's save
# produces depends on the editor and the backend, and a content comparison follows anyway.
_IGNORED = frozenset({"opened", "closed_no_write", "attrib"})

# File systems on which inotify misses changes made by other machines (or by Windows).
NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "drvfs",
        "vboxsf",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "sshfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.rclone",
        "fuse.s3fs",
    }
)


_OCTAL = re.compile(r"\\([0-7]{3})")


# -- pure core -------------------------------------------------------------------------
def event_paths(event: FileSystemEvent) -> list[Path]:
    """The paths an event names: src_path, and dest_path for moves."""
    raw = [event.src_path, event.dest_path]
    return [Path(os.path.abspath(os.fsdecode(p))) for p in raw if p]


def is_relevant(event: FileSystemEvent, watched: Iterable[Path]) -> bool:
    """Whether an event may have changed the content of one of the watched files."""
    if event.is_directory or event.event_type in _IGNORED:
        return False
    wanted = set(watched)
    return any(p in wanted for p in event_paths(event))


@dataclass
class Debouncer:
    """Due once `quiet` seconds pass without a mark, or `max_wait` after the first mark."""

    quiet: float = QUIET_S
    max_wait: float = MAX_WAIT_S
    _first: float | None = None
    _last: float | None = None

    def mark(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._last = now

    @property
    def pending(self) -> bool:
        return self._last is not None

    def deadline(self) -> float | None:
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.quiet, self._first + self.max_wait)

    def due(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def reset(self) -> None:
        self._first = self._last = None


@dataclass(frozen=True)
class Action:
    """What a change of a requirements file asks for."""

    install: tuple[str, ...] = ()  # requirement strings, new or changed
    removed: tuple[str, ...] = ()  # canonical names no longer required
    other: bool = False  # options, -r/-c lines, paths or URLs changed: only a build applies them

    @property
    def empty(self) -> bool:
        return not self.install and not self.removed and not self.other

    @property
    def needs_build(self) -> bool:
        """pip cannot take a package out, nor apply option lines, in a running lab."""
        return bool(self.removed) or self.other

    def describe(self) -> str:
        parts = [f"+{r}" for r in self.install] + [f"-{n}" for n in self.removed]
        if self.other:
            parts.append("(options or other lines)")
        return " ".join(parts) if parts else "no package changes"


def changes(old_text: str, new_text: str) -> Action:
    """What a requirements file going from old_text to new_text asks of the running lab."""
    d = diff(old_text, new_text)
    return Action(install=tuple(d.added), removed=tuple(d.removed), other=d.other_changed)


def parse_mounts(text: str) -> list[tuple[Path, str]]:
    """(mount point, fstype) pairs from /proc/mounts text (octal escapes decoded)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[1])  # `\040` = space
            out.append((Path(point), fields[2]))
    return out


def fstype_of(path: Path, mounts: Iterable[tuple[Path, str]]) -> str | None:
    """The fstype of the deepest mount holding `path` (the last one mounted wins a tie)."""
    best: tuple[int, str] | None = None
    for point, fstype in mounts:
        if path == point or point in path.parents:
            depth = len(point.parts)
            if best is None or depth >= best[0]:
                best = (depth, fstype)
    return best[1] if best else None


def polling_reason(
    paths: Iterable[Path], mounts: Iterable[tuple[Path, str]], *, forced: bool, wsl: bool
) -> str | None:
    """Why file events cannot be trusted here (so polling is needed), or None."""
    if forced:
        return "--poll was given"
    mounts = list(mounts)
    for path in paths:
        parts = path.parts
        if wsl and len(parts) >= 3 and parts[1] == "mnt" and len(parts[2]) == 1:
            return f"{path.parent} is a Windows drive under WSL, which sends no file events"
        fstype = fstype_of(path, mounts)
        if fstype in NETWORK_FS:
            return f"{path.parent} is on {fstype}, which sends no events for changes made elsewhere"
    return None
