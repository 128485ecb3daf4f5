"""Watching requirements files: a pure core (relevance, debounce, plan) and thin watchdog glue."""

from __future__ import annotations

import errno
import os
import platform
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jlcompose.requirements import diff

if TYPE_CHECKING:  # watchdog is imported lazily so `jlcompose --help` stays fast
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers.api import BaseObserver

QUIET_S = 0.5  # editors write in bursts (temp file, rename, chmod): act once they are done
MAX_WAIT_S = 10.0  # ...but a file rewritten without pause still gets applied
POLL_INTERVAL_S = 0.5

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


def plan(old_text: str, new_text: str) -> Action:
    """What to do about a requirements file going from old_text to new_text."""
    d = diff(old_text, new_text)
    return Action(install=tuple(d.added), removed=tuple(d.removed), other=d.other_changed)


def requirement_name(requirement: str) -> str | None:
    """The canonical name of a requirement string, or None where it names no package."""
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return None


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


# -- glue ------------------------------------------------------------------------------
def _mounts() -> list[tuple[Path, str]]:
    try:
        return parse_mounts(Path("/proc/mounts").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def _is_wsl() -> bool:
    return "microsoft" in platform.uname().release.lower()


class EventSink:
    """Receives watchdog events on the observer's thread; the main loop collects them.

    Events only mark services dirty and move the deadline; the work itself runs in one
    place (the caller of `wait`), so changes during an install become one follow-up run.
    """

    def __init__(self, files: Mapping[str, Iterable[Path]], clock: Callable[[], float]) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._debouncer = Debouncer()
        self._dirty: set[str] = set()
        self._owners: dict[Path, set[str]] = {}
        self.set_files(files)

    def set_files(self, files: Mapping[str, Iterable[Path]]) -> set[Path]:
        """Replace the watched files; returns their parent directories."""
        owners: dict[Path, set[str]] = {}
        for service, paths in files.items():
            for p in paths:
                owners.setdefault(Path(os.path.abspath(p)), set()).add(service)
        with self._cond:
            self._owners = owners
        return {p.parent for p in owners}

    def dispatch(self, event: FileSystemEvent) -> None:  # watchdog's handler entry point
        with self._cond:
            if not is_relevant(event, self._owners):
                return
            for p in event_paths(event):
                self._dirty.update(self._owners.get(p, ()))
            self._debouncer.mark(self._clock())
            self._cond.notify_all()

    def mark(self, services: Iterable[str]) -> None:
        with self._cond:
            self._dirty.update(services)
            self._debouncer.mark(self._clock())
            self._cond.notify_all()

    def take(self, max_wait: float) -> set[str]:
        """Wait up to `max_wait` s; the services whose quiet period ended, or an empty set."""
        with self._cond:
            deadline = self._debouncer.deadline()
            now = self._clock()
            timeout = max_wait if deadline is None else min(max_wait, max(deadline - now, 0.0))
            if timeout > 0:
                self._cond.wait(timeout)
            if not self._debouncer.due(self._clock()):
                return set()
            dirty, self._dirty = self._dirty, set()
            self._debouncer.reset()
            return dirty


def _handler(sink: EventSink) -> FileSystemEventHandler:
    from watchdog.events import FileSystemEventHandler

    class _Forward(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            sink.dispatch(event)

    return _Forward()


class Watch:
    """A started observer over some directories (non-recursive), native or polling."""

    def __init__(self, observer: BaseObserver, handler: FileSystemEventHandler, mode: str) -> None:
        self.observer = observer
        self.handler = handler
        self.mode = mode
        self.dirs: set[Path] = set()

    def add(self, dirs: Iterable[Path]) -> None:
        for d in sorted(set(dirs) - self.dirs):
            if d.is_dir():
                self.observer.schedule(self.handler, str(d), recursive=False)
                self.dirs.add(d)

    def stop(self) -> None:
        self.observer.stop()
        if self.observer.is_alive():
            self.observer.join(timeout=5)


def _limit_reason(exc: OSError) -> str | None:
    if exc.errno == errno.ENOSPC:
        return "the inotify watch limit is reached (sysctl fs.inotify.max_user_watches)"
    if exc.errno == errno.EMFILE:
        return "the inotify instance limit is reached (sysctl fs.inotify.max_user_instances)"
    return None


def start(sink: EventSink, dirs: Iterable[Path], *, poll: bool) -> Watch:
    """Start a native observer, or a polling one where native events cannot work."""
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    dirs = set(dirs)
    handler = _handler(sink)
    reason = polling_reason(dirs, _mounts(), forced=poll, wsl=_is_wsl())
    if reason is None:
        observer = Observer()
        kind = type(observer).__name__.removesuffix("Observer").lower() or "native"
        native = Watch(observer, handler, f"{kind} events")
        try:
            native.add(dirs)
            native.observer.start()
            return native
        except OSError as exc:
            reason = _limit_reason(exc)
            if reason is None:
                raise
            native.stop()
    polling = Watch(
        PollingObserver(timeout=POLL_INTERVAL_S),
        handler,
        f"polling every {POLL_INTERVAL_S:g} s because {reason}",
    )
    polling.add(dirs)
    polling.observer.start()
    return polling
