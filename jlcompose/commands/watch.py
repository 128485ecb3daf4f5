"""`jlcompose watch`: hot-install into the running lab whenever a requirements file changes."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from jlcompose import console, hotinstall, watcher
from jlcompose.background import detach, registered, stop_watcher, watcher_pid
from jlcompose.commands import up as up_command
from jlcompose.compose import Engine
from jlcompose.errors import ExitCode, InstallFailed, JlcomposeError
from jlcompose.files import locked
from jlcompose.includes import include_paths
from jlcompose.project import Project, Service, make_engine, open_project

__all__ = ["detach", "stop_watcher", "watch", "watcher_pid"]  # the background part lives in background.py

HELP = "hot-install packages into the running lab whenever a requirements file changes"
DESCRIPTION = """\
Watch docker_files/<service>/requirements.txt (and the files it includes with -r/-c).
When you save it, new and upgraded packages are pip-installed into the running lab
within a second or so; removals and option lines wait for the next `jlcompose up`,
which rebuilds the image. Saving without changing the content does nothing.

examples:
  jlcompose watch                 watch the default service (torch) until Ctrl-C
  jlcompose watch torch tf        watch both labs
  jlcompose watch --detach        keep watching in the background (log: .jlcompose/watch.log)
  jlcompose watch --stop          stop the background watcher
  jlcompose watch --rebuild       rebuild the image and recreate the lab on each change
  jlcompose watch --poll          poll the files (network drives, WSL's /mnt/c)

Ctrl-C exits with 130, `watch --stop` (SIGTERM) with 0; an install in progress is either
finished (SIGTERM) or abandoned before anything is recorded (Ctrl-C).
"""

EngineFactory = Callable[..., Engine]
TICK_S = 0.25  # how often the loop looks at its stop flag while idle
LOCK_WAIT_S = 1800.0  # a pipreq holding the requirements lock may be installing something big


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services to watch (default: torch)")
    p.add_argument("--poll", action="store_true", help="poll the files instead of file events")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild and recreate the lab instead of hot-installing",
    )
    bg = p.add_mutually_exclusive_group()
    bg.add_argument("--detach", action="store_true", help="keep watching in the background")
    bg.add_argument("--stop", action="store_true", help="stop the background watcher")


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    if args.stop:
        return stop_watcher(project)
    if args.detach:
        return detach(project, args.services, poll=args.poll, rebuild=args.rebuild)
    return watch(project, args.services, poll=args.poll, rebuild=args.rebuild)


# -- the loop --------------------------------------------------------------------------
def watch(
    project: Project,
    services: Sequence[str],
    *,
    poll: bool,
    rebuild: bool,
    engine_factory: EngineFactory | None = None,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
) -> int:
    """Watch until Ctrl-C (130), SIGTERM or `stop` (0); `ready` is set once events flow."""
    chosen = project.pick(services)
    factory = engine_factory or make_engine
    stop = stop or threading.Event()
    with _stop_on_signals(stop), registered(project):
        applier = Applier(project, factory(project), factory, rebuild=rebuild)
        applier.prime(chosen)
        sink = watcher.EventSink({}, time.monotonic)
        observed = watcher.start(sink, sink.set_files(applier.files(chosen)), poll=poll)
        try:
            names = ", ".join(s.name for s in chosen)
            how = "; Ctrl-C stops" if sys.stdin is not None and sys.stdin.isatty() else ""
            console.info(f"watching the requirements of {names} ({observed.mode}){how}")
            for svc in chosen:  # catch up with edits made while nobody watched
                applier.handle(svc)
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

    def __init__(self, project: Project, engine: Engine, factory: EngineFactory, *, rebuild: bool) -> None:
        self.project = project
        self.engine = engine
        self.factory = factory
        self.rebuild = rebuild
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
        try:
            return include_paths(svc.requirements)
        except (OSError, UnicodeDecodeError):  # unreadable now: keep what we knew (warned once)
            return list(self.included.get(svc.name, {}))

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
        rel = self._rel(svc.requirements)
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
        state = self.project.read_state().get("services", {}).get(name, {})
        applied = state.get("applied")
        return applied if isinstance(applied, str) else self.start.get(name, text)

    def handle(self, svc: Service) -> None:
        # pipreq holds this lock from its install until it has recorded "applied", so under
        # it the file and "applied" agree and its writes never look like changes to install
        lock = hotinstall.lock_path(self.project, svc)
        try:
            with locked(lock, timeout=LOCK_WAIT_S, what=self._rel(svc.requirements)):
                self._handle(svc)
        except JlcomposeError as exc:  # the engine went away, a lock timed out, ...
            console.error(exc.message, hint=exc.hint, detail=exc.detail)
            console.warn("still watching; the next save tries again")
            self.seen.pop(svc.name, None)

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
        action = watcher.plan(self._applied(svc.name, text), text)
        if changed:  # pip would need the file itself: only a build applies it
            action = dataclasses.replace(action, other=True)
        if action.empty:
            return  # only comments changed, or jlcompose's own pipreq write
        paths = [svc.requirements] if main_changed or not changed else []
        names = ", ".join(self._rel(p) for p in paths + changed)
        head = f"{names} changed: {action.describe()}"
        if not hotinstall.lab_running(self.engine, svc.name):
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
                hotinstall.install(self.project, self.engine, svc, list(action.install), on_line=_show_line)
            except InstallFailed as exc:
                console.error(exc.message, hint=exc.hint, detail=exc.detail)
                console.warn("nothing was recorded; still watching for the next save")
                return
            hotinstall.record(self.project, svc, list(action.install))
            # record() takes "applied" from the disk, which a save during the install may
            # already have changed: what was installed is `text`; the follow-up run sees the rest
            _set_applied(self.project, svc.name, text, action.install)
            console.ok(f"installed in {svc.name}: {', '.join(action.install)}")
        else:
            console.step(head)
        if action.needs_build:
            _mark_stale(self.project, svc.name, action.removed, text)
            console.info(
                f"{svc.name}: removals, options and included files apply when the image is "
                f"rebuilt; the next `jlcompose up {svc.name}` rebuilds it"
            )

    def _rebuild(self, svc: Service) -> None:
        state = self.project.read_state().get("services", {}).get(svc.name, {})
        gpu = state.get("mode") or self.project.config.gpu  # keep a CPU lab on CPU
        try:
            up_command.up(self.project, [svc.name], gpu=gpu, recreate=True, engine_factory=self.factory)
        except JlcomposeError as exc:
            console.error(exc.message, hint=exc.hint, detail=exc.detail)
            console.warn("the running lab was left as it was; still watching")

    def _rel(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return path.relative_to(self.project.root).as_posix()
        return str(path)


def _show_line(line: str) -> None:
    console.info(f"  {line}")


def _mark_stale(project: Project, name: str, removed: Sequence[str], text: str) -> None:
    """Record that the running lab differs from its file in ways only a build fixes."""

    def change(state: dict[str, Any]) -> None:
        svc = state.setdefault("services", {}).setdefault(name, {})
        svc["removed"] = sorted(set(svc.get("removed") or ()) | set(removed))
        gone = set(removed)
        svc["hot_installed"] = [
            r for r in svc.get("hot_installed") or () if watcher.requirement_name(r) not in gone
        ]
        svc["applied"] = text

    project.update_state(change)


def _set_applied(project: Project, name: str, text: str, installed: Sequence[str]) -> None:
    back = {watcher.requirement_name(r) for r in installed}  # removed once, now listed again

    def change(state: dict[str, Any]) -> None:
        svc = state.setdefault("services", {}).setdefault(name, {})
        svc["applied"] = text
        if svc.get("removed"):
            svc["removed"] = [n for n in svc["removed"] if n not in back]

    project.update_state(change)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGHUP end the loop after the current step; only the main thread may listen."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
