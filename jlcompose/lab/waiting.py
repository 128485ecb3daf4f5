"""Live views of what `up` waits for besides a build: a base image pull, the GPU probe, and
JupyterLab's readiness. One updating line on a terminal (kept current by a ticker thread, so
the clock moves between events); plain lines off one (CI, logs): a pull's every 10 %, a wait's
start and then every 15 s. progress.py's BuildView does the same for builds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from jlcompose import console
from jlcompose.core.pullstatus import PullStatus, duration, size
from jlcompose.engine.api import RemoteImage

V = TypeVar("V", bound="_LiveLine")


class _Ticker:
    """Calls `tick` about every `interval` seconds from a daemon thread until stopped."""

    def __init__(self, tick: Callable[[], None], interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(tick, interval), daemon=True)

    def _run(self, tick: Callable[[], None], interval: float) -> None:
        while not self._stop.wait(interval):
            tick()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class _LiveLine:
    """One status line: a rich Status on a terminal; off one, the plain lines `plain` prints.

    `tick` runs from the ticker and after every event; subclasses say what the line reads
    (`text`) and, off a terminal, whether a plain line is due (`plain`).
    """

    def __init__(self, *, clock: Callable[[], float], terminal: bool | None, ticking: bool) -> None:
        self._clock = clock
        self._started = clock()
        self._terminal = console.is_terminal() if terminal is None else terminal
        self._live: Any = None  # a rich Status while on a terminal
        self._lock = threading.RLock()
        self._ticker = _Ticker(self.tick, 0.5 if self._terminal else 1.0) if ticking else None

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def text(self) -> str:
        raise NotImplementedError

    def begin(self) -> None:
        """What to print first, off a terminal."""

    def plain(self) -> None:
        """Off a terminal: print a line if one is due."""

    def tick(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.update(self.text())
            elif not self._terminal:
                self.plain()

    def __enter__(self: V) -> V:
        self.begin()
        if self._terminal:
            self._live = console.err.status(self.text())
            self._live.__enter__()
        if self._ticker is not None:
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        with self._lock:
            if self._live is not None:
                self._live.__exit__(exc_type, exc, tb)
                self._live = None


class PullView(_LiveLine):
    """A base image's pull: bytes, rate and time left on a terminal; off one a line every 10 %.

    Downloading comes first (the 10 % steps count downloaded bytes), then unpacking, which the
    daemon does layer by layer and which takes minutes for an NGC image (steps of unpacked layers).
    """

    STEP = 0.1

    def __init__(
        self,
        service: str,
        remote: RemoteImage | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        terminal: bool | None = None,
        ticking: bool = True,
    ) -> None:
        self.service = service
        self.status = PullStatus.for_layers(remote.layers if remote is not None else ())
        self._download_step = 0  # the last 10 % step printed (10: downloading is over)
        self._unpack_step = 0
        self._downloaded_at: float | None = None
        super().__init__(clock=clock, terminal=terminal, ticking=ticking)

    def __call__(self, line: str) -> None:
        with self._lock:
            was_downloading = self.status.downloading
            self.status.feed(line)
            if was_downloading and not self.status.downloading and self._downloaded_at is None:
                self._downloaded_at = self.elapsed
            self.tick()

    @property
    def download_time(self) -> float:
        return self._downloaded_at if self._downloaded_at is not None else self.elapsed

    def text(self) -> str:
        s = self.status
        head, spent = f"{self.service}: base image", duration(self.elapsed)
        if not s.to_fetch:
            return f"{head}: asking the registry, {len(s.existing)} layers here already ({spent})"
        if s.downloading:
            return f"{head} {s.download_text(self.elapsed)} ({spent})"
        return f"{head} downloaded, {s.unpack_text()} ({spent})"

    def plain(self) -> None:
        s = self.status
        if not s.to_fetch:
            return
        if s.downloading:
            step = int(s.download_share / self.STEP + 1e-9)
            if step > self._download_step:
                self._download_step = step
                console.info(f"  {self.service}: base image {s.download_text(self.elapsed)}")
            return
        if self._download_step < 10:
            self._download_step = 10
            console.info(f"  {self.service}: base image {self.summary()}; unpacking")
        step = int(s.unpack_share / self.STEP + 1e-9)
        if step > self._unpack_step:
            self._unpack_step = step
            console.info(f"  {self.service}: base image {s.unpack_text()}")

    def summary(self) -> str:
        """ "105 MB downloaded in 3 s, 35 MB/s", or in layers without sizes."""
        s, spent = self.status, self.download_time
        if not s.to_fetch:
            return "every layer was already here"
        if not s.sized:
            return f"{len(s.to_fetch)} layers downloaded in {duration(spent)}"
        rate = f", {size(s.total_bytes / spent)}/s" if spent > 0 else ""
        return f"{size(s.total_bytes)} downloaded in {duration(spent)}{rate}"


class WaitView(_LiveLine):
    """Something awaited (the GPU probe, JupyterLab's answer): what, for how long, up to when."""

    def __init__(
        self,
        what: str,
        *,
        limit: float | None = None,
        every: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        terminal: bool | None = None,
        ticking: bool = True,
    ) -> None:
        self.what = what
        self.limit = limit
        self.every = every
        self._next_line = every
        super().__init__(clock=clock, terminal=terminal, ticking=ticking)

    def _so_far(self) -> str:
        so_far = f"{self.elapsed:.0f} s"
        return f"{so_far} of at most {self.limit:.0f} s" if self.limit is not None else so_far

    def text(self) -> str:
        return f"{self.what} ({self._so_far()})"

    def begin(self) -> None:
        if not self._terminal:
            limit = f" (at most {self.limit:.0f} s)" if self.limit is not None else ""
            console.info(f"{self.what}{limit} ...")

    def plain(self) -> None:
        if self.elapsed >= self._next_line:
            while self._next_line <= self.elapsed:
                self._next_line += self.every
            console.info(f"  {self.what}: {self._so_far()} so far")
