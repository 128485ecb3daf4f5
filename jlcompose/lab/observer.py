"""The watchdog glue: an event sink the watch loop takes from, and the observers that feed it."""

from __future__ import annotations

import errno
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from jlcompose.lab.watcher import Debouncer, event_paths, is_relevant, parse_mounts, polling_reason

if TYPE_CHECKING:  # watchdog is imported lazily so `jlcompose --help` stays fast
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers.api import BaseObserver

POLL_INTERVAL_S = 0.5


def _mounts() -> list[tuple[Path, str]]:
    try:
        return parse_mounts(Path("/proc/mounts").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def _is_wsl() -> bool:
    return "microsoft" in platform.uname().release.lower()


class EventSink:
    """Receives watchdog events on the observer's thread; the watch loop takes them.

    Events only mark services dirty and move the deadline; the work itself runs in one
    place (the caller of `take`), so changes during an install become one follow-up run.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._debouncer = Debouncer()
        self._dirty: set[str] = set()
        self._owners: dict[Path, set[str]] = {}

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

    def wake(self) -> None:
        """Make a waiting `take` look at the clock again (a test that moved its fake clock)."""
        with self._cond:
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
