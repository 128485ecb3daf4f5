"""The watch loop: bring the running lab in line with its requirements file after each save."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from jlcompose import console
from jlcompose.core.includes import include_paths
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import ExitCode, InstallFailed, JlcomposeError
from jlcompose.files import locked
from jlcompose.lab import hotinstall, observer, watcher
from jlcompose.lab.background import registered, stop_on_signals
from jlcompose.lab.up import up
from jlcompose.project import Project, Service

TICK_S = 0.25  # how often the loop looks at its stop flag while idle
LOCK_WAIT_S = 1800.0  # a pipreq holding the requirements lock may be installing something big


class Observed(Protocol):
    """A started file observer (observer.Watch, or a test's stand-in)."""

    mode: str

    def add(self, dirs: Iterable[Path]) -> None: ...

    def stop(self) -> None: ...


Observe = Callable[[observer.EventSink, Iterable[Path], bool], Observed]


def _observe(sink: observer.EventSink, dirs: Iterable[Path], poll: bool) -> Observed:
    return observer.start(sink, dirs, poll=poll)


def watch(
    project: Project,
    engine: Engine,
    services: Sequence[str],
    *,
    poll: bool,
    rebuild: bool,
    clock: Callable[[], float] = time.monotonic,
    sink: observer.EventSink | None = None,
    observe: Observe = _observe,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
) -> int:
    """Watch until Ctrl-C (130), SIGTERM or `stop` (0); `ready` is set once events flow.

    `clock`, `sink` and `observe` are the loop's sense of time and of the file system
    (tests pass a fake clock and feed the sink themselves).
    """
    chosen = project.pick(services)
    sink = sink or observer.EventSink(clock)
    stop = stop or threading.Event()
    with stop_on_signals(stop), registered(project):
        applier = Applier(project, engine, rebuild=rebuild)
        applier.prime(chosen)
        observed = observe(sink, sink.set_files(applier.files(chosen)), poll)
        try:
            for svc in chosen:  # catch up with edits made while nobody watched
                applier.handle(svc)
            # said once caught up: a save made after this line is one the loop sees as a save
            names = ", ".join(s.name for s in chosen)
            how = "; Ctrl-C stops" if sys.stdin is not None and sys.stdin.isatty() else ""
            console.info(f"watching the requirements of {names} ({observed.mode}){how}")
            if ready is not None:
                ready.set()
            while not stop.is_set():
                for name in sorted(sink.take(TICK_S)):
                    applier.handle(project.service(name))
                    observed.add(sink.set_files(applier.files(chosen)))
        except KeyboardInterrupt:
            console.info("stopped watching (interrupted)")
            return int(ExitCode.INTERRUPTED)
        finally:
            observed.stop()
    console.info("stopped watching")
    return int(ExitCode.OK)


class Applier:
    """Brings the running lab in line with one service's requirements file, one change at a time."""

    def __init__(self, project: Project, engine: Engine, *, rebuild: bool) -> None:
        self.project = project
        self.engine = engine
        self.rebuild = rebuild
        self.stack: Stack = project.stack(cpu=False)  # names the containers; files do not matter here
        self.seen: dict[str, str] = {}  # last text handled per service (touch and no-op saves)
        self.start: dict[str, str] = {}  # the text at watch start, where state records nothing
        self.missing: set[str] = set()  # services whose file is gone (warned once)
        self.included: dict[str, dict[Path, str | None]] = {}  # -r/-c files, as last seen

    def prime(self, services: Sequence[Service]) -> None:
        """Remember each file as it is now: the baseline where state records nothing applied."""
        for svc in services:
            self._read(svc)
            self.included[svc.name] = self._includes(svc)

    def _include_paths(self, svc: Service) -> list[Path]:
        if not svc.requirements.is_file():  # gone for now: keep watching what it included
            return list(self.included.get(svc.name, {}))
        return include_paths(svc.requirements)

    def _includes(self, svc: Service) -> dict[Path, str | None]:
        out: dict[Path, str | None] = {}
        for path in self._include_paths(svc):
            try:
                out[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                out[path] = None
        return out

    def files(self, services: Sequence[Service]) -> dict[str, list[Path]]:
        return {s.name: [s.requirements.resolve(), *self._include_paths(s)] for s in services}

    def _read(self, svc: Service) -> str | None:
        rel = self.project.relative(svc.requirements)
        try:
            text = svc.requirements.read_text(encoding="utf-8")
        except FileNotFoundError:
            if svc.name not in self.missing:
                console.warn(f"{rel} is gone; still watching for it to come back")
                self.missing.add(svc.name)
            return None
        except (OSError, UnicodeDecodeError) as exc:
            console.warn(f"cannot read {rel} ({exc}); still watching")
            return None
        self.missing.discard(svc.name)
        self.start.setdefault(svc.name, text)
        return text

    def _applied(self, name: str, text: str) -> str:
        applied = self.project.state.read().peek(name).applied
        return applied if applied is not None else self.start.get(name, text)

    def handle(self, svc: Service) -> None:
        # pipreq holds this lock from its install until it has recorded "applied", so under
        # it the file and "applied" agree and its writes never look like changes to install
        lock = hotinstall.requirements_lock(self.project, svc)
        included = dict(self.included.get(svc.name, {}))
        try:
            with locked(lock, timeout=LOCK_WAIT_S, what=self.project.relative(svc.requirements)):
                self._handle(svc)
        except JlcomposeError as exc:  # the engine went away, a lock timed out, ...
            console.error(exc.message, hint=exc.hint, detail=exc.detail)
            console.warn("still watching; the next save tries again")
            # forget what this attempt saw, so the next event finds the change again
            self.seen.pop(svc.name, None)
            self.included[svc.name] = included

    def _handle(self, svc: Service) -> None:
        text = self._read(svc)
        if text is None:
            return
        includes = self._includes(svc)
        before = self.included.get(svc.name, {})
        changed = [p for p, t in includes.items() if p in before and before[p] != t]
        self.included[svc.name] = includes
        main_changed = text != self.seen.get(svc.name)
        if not main_changed and not changed:
            return  # a touch or a no-op save
        self.seen[svc.name] = text
        action = watcher.changes(self._applied(svc.name, text), text)
        if changed:  # pip would need the file itself: only a build applies it
            action = dataclasses.replace(action, other=True)
        if action.empty:
            return  # only comments changed, or jlcompose's own pipreq write
        paths = [svc.requirements] if main_changed or not changed else []
        names = ", ".join(self.project.relative(p) for p in paths + changed)
        head = f"{names} changed: {action.describe()}"
        if not hotinstall.lab_running(self.engine, self.stack, svc.name):
            console.info(f"{head}; {svc.name} is not running, the next `jlcompose up` builds it")
        elif self.rebuild:
            console.step(f"{head}; rebuilding {svc.name} ...")
            self._rebuild(svc)
        else:
            self._hot_install(svc, text, action, head)

    def _hot_install(self, svc: Service, text: str, action: watcher.Action, head: str) -> None:
        if action.install:
            console.step(f"{head}; installing in {svc.name} ...")
            try:
                hotinstall.install(
                    self.project, self.engine, self.stack, svc, list(action.install), on_line=_show_line
                )
            except InstallFailed as exc:
                console.error(exc.message, hint=exc.hint, detail=exc.detail)
                console.warn("nothing was recorded; still watching for the next save")
                return
            # what was installed is `text`, even if a save during the install changed the
            # file again: the follow-up run sees the rest
            hotinstall.remember_installed(self.project, svc, list(action.install), applied=text)
            console.ok(f"installed in {svc.name}: {', '.join(action.install)}")
        else:
            console.step(head)
        if action.needs_build:
            hotinstall.remember_needs_build(self.project, svc, action.removed, applied=text)
            console.info(
                f"{svc.name}: removals, options and included files apply when the image is "
                f"rebuilt; the next `jlcompose up {svc.name}` rebuilds it"
            )

    def _rebuild(self, svc: Service) -> None:
        state = self.project.state.read().peek(svc.name)
        gpu = state.mode or self.project.config.gpu  # keep a CPU lab on CPU
        try:
            up(self.project, self.engine, [svc.name], gpu=gpu, recreate=True)
        except JlcomposeError as exc:
            console.error(exc.message, hint=exc.hint, detail=exc.detail)
            console.warn("the running lab was left as it was; still watching")


def _show_line(line: str) -> None:
    console.info(f"  {line}")
