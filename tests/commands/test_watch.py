"""`jlcompose watch`: the real loop on a fake clock, fed watchdog events by the test, with a FakeEngine.

The loop runs in a thread. A test saves a file, hands the sink the events that kind of save
produces, moves the fake clock past the quiet period and waits (on a condition, never a
sleep) until the loop is idle again. Only the background watcher (`--detach`, `--stop`),
the signal tests and the observer glue use real processes and real observers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import watchdog.observers
from watchdog.events import (
    DirModifiedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)
from watchdog.observers.polling import PollingObserver

from jlcompose import cli
from jlcompose.commands import watch as watch_command
from jlcompose.engine.api import Engine
from jlcompose.errors import BuildFailed, EngineError, JlcomposeError
from jlcompose.files import locked as real_locked
from jlcompose.lab import observer, watcher
from jlcompose.lab import watch as watch_module
from jlcompose.lab.background import stop_watcher, watcher_pid
from jlcompose.lab.observer import EventSink
from jlcompose.lab.pipreq import pipreq
from jlcompose.lab.watch import watch
from jlcompose.lab.watcher import MAX_WAIT_S, QUIET_S
from jlcompose.project import Project
from jlcompose.state import ServiceState, State, StateDir
from tests.events import ATTRIB_EVENTS, touch_event
from tests.fakes import FakeEngine

Events = list[FileSystemEvent]


# -- the loop's world: a clock, a sink, an observer stand-in ------------------------------------
class FakeClock:
    """time.monotonic for the loop and the sink; only the test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class Sink(EventSink):
    """The real EventSink, telling the test each time the loop comes to it and finds nothing due.

    `take` first looks without waiting; only when nothing is due does the loop count as idle
    (everything due was handled) and wait as usual. `advance` moves the clock and returns
    once the loop has looked at the moved clock and is idle again.
    """

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.clock = clock
        self.turns = threading.Condition()
        self.idle = 0  # times the loop found nothing due
        self.batches: list[set[str]] = []  # what each take handed the loop
        self.ended = False  # the loop's thread is done
        self.failure: BaseException | None = None  # what ended it, if it raised
        self.stopping: threading.Event | None = None  # the loop's stop flag: set, take waits no more

    def take(self, max_wait: float) -> set[str]:
        with self.turns:  # the look and the count in one step: `advance` sees both or neither
            due = super().take(0.0)
            if due:
                self.batches.append(due)
                return due
            self.idle += 1
            self.turns.notify_all()
        if self.stopping is not None and self.stopping.is_set():
            return set()  # the loop looks at its flag now, not after its tick
        due = super().take(max_wait)
        if due:
            with self.turns:
                self.batches.append(due)
        return due

    def send(self, events: Iterable[FileSystemEvent]) -> None:
        for event in events:  # as the observer's thread would
            self.dispatch(event)

    def advance(self, seconds: float, *, wait: bool = True) -> None:
        with self.turns:
            self.clock.advance(seconds)
            seen = self.idle
        self.wake()
        if not wait:
            return
        with self.turns:
            done = self.turns.wait_for(lambda: self.idle > seen or self.ended, timeout=10)
        if self.ended:
            raise AssertionError("the watch loop ended") from self.failure
        assert done, "the watch loop did not come back to its events within 10 s"

    def settle(self) -> None:
        """Let the quiet period pass and the loop handle what became due."""
        self.advance(QUIET_S)

    def end(self) -> None:
        with self.turns:
            self.ended = True
            self.turns.notify_all()


class FakeObserved:
    """What observer.start returns, minus watchdog: remembers what it was asked to watch."""

    def __init__(self) -> None:
        self.mode = "fake events"
        self.added: list[set[Path]] = []
        self.stopped = False

    def add(self, dirs: Iterable[Path]) -> None:
        self.added.append(set(dirs))

    def stop(self) -> None:
        self.stopped = True


class Loop:
    """One run of the real watch loop in a thread, on a fake clock, fed by the test."""

    def __init__(self, project: Project, engine: Engine, services: Sequence[str], **options: bool) -> None:
        self.clock = FakeClock()
        self.sink = Sink(self.clock)
        self.observed = FakeObserved()
        self.observe_calls: list[tuple[set[Path], bool]] = []  # (directories, poll)
        self.stop = threading.Event()
        self.sink.stopping = self.stop
        self.ready = threading.Event()
        self.result: list[int] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(
            target=self._run, args=(project, engine, services, options), daemon=True
        )

    def observe(self, sink: EventSink, dirs: Iterable[Path], poll: bool) -> FakeObserved:
        assert sink is self.sink
        self.observe_calls.append((set(dirs), poll))
        return self.observed

    def _run(
        self, project: Project, engine: Engine, services: Sequence[str], options: dict[str, bool]
    ) -> None:
        try:
            rc = watch(
                project,
                engine,
                services,
                poll=options.get("poll", False),
                rebuild=options.get("rebuild", False),
                clock=self.clock,
                sink=self.sink,
                observe=self.observe,
                stop=self.stop,
                ready=self.ready,
            )
            self.result.append(rc)
        except BaseException as exc:  # handed to the test's thread
            self.errors.append(exc)
            self.sink.failure = exc
        finally:
            self.ready.set()
            self.sink.end()

    def send(self, events: Iterable[FileSystemEvent]) -> None:
        self.sink.send(events)

    def save(self, events: Iterable[FileSystemEvent]) -> None:
        """The events of one save, then the quiet period: the loop has handled them on return."""
        self.sink.send(events)
        self.sink.settle()

    def alive(self) -> bool:
        return self.thread.is_alive()


@contextlib.contextmanager
def watching(
    project: Project, engine: Engine, services: Sequence[str] = ("torch",), **options: bool
) -> Iterator[Loop]:
    """The watch loop, caught up and waiting for events; stopped (and checked) on exit."""
    loop = Loop(project, engine, services, **options)
    loop.thread.start()
    assert loop.ready.wait(10), "the watcher did not start"
    if loop.errors:
        raise loop.errors[0]
    assert loop.alive(), f"the watcher ended at once: {loop.result}"
    try:
        yield loop
    finally:
        loop.stop.set()
        loop.sink.wake()
        loop.thread.join(10)
    if loop.errors:
        raise loop.errors[0]
    assert not loop.alive() and loop.result == [0]
    assert loop.observed.stopped, "the observer was left running"


class Pip:
    """FakeEngine.exec_handler for `pip install`: records what went where; can fail or be held."""

    def __init__(self) -> None:
        self.fail: set[str] = set()
        self.installs: list[tuple[str, ...]] = []
        self.services: list[str] = []
        self.hold = False  # installs wait for `release` (a slow install)
        self.busy = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        assert user == "0", argv  # root: the lab's user may not write site-packages
        # the requirements follow the installer: `... pip install REQ...` or `sh -c ... jlcompose-install REQ...`
        marker = max(i for i, a in enumerate(argv) if a in {"install", "jlcompose-install"})
        reqs = tuple(argv[marker + 1 :])
        with self._lock:
            self.installs.append(reqs)
            self.services.append(service)
        if self.hold:
            self.busy.set()
            assert self.release.wait(10), "the test never released the install"
        if self.fail & set(reqs):
            return 1, [f"ERROR: No matching distribution found for {sorted(self.fail)[0]}"]
        return 0, [f"Successfully installed {' '.join(reqs)}"]


@pytest.fixture
def pip(engine: FakeEngine) -> Pip:
    handler = Pip()
    engine.exec_handler = handler
    engine.start("torch")
    return handler


@pytest.fixture
def req(project: Project) -> Path:
    path = project.services["torch"].requirements
    path.write_text("# the lab\nnumpy\n", encoding="utf-8")
    return path


def state_of(project: Project, service: str = "torch") -> ServiceState:
    return project.state.read().peek(service)


def record(project: Project, service: str = "torch", **fields: Any) -> None:
    def change(state: State) -> None:
        entry = state.service(service)
        for key, value in fields.items():
            setattr(entry, key, value)

    project.state.update(change)


# -- how editors save, and the events each save produces ---------------------------------------
def _p(path: Path) -> str:
    return str(path.resolve())  # observers report paths under the (resolved) watched folder


def in_place(path: Path, text: str) -> Events:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
    s = _p(path)
    return [FileOpenedEvent(s), FileModifiedEvent(s), FileModifiedEvent(s), FileClosedEvent(s)]


def rename_over(path: Path, text: str) -> Events:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    t = _p(tmp)
    return [FileCreatedEvent(t), FileModifiedEvent(t), FileClosedEvent(t), FileMovedEvent(t, _p(path))]


def sed_i(path: Path, text: str) -> Events:  # sed -i: a temp file, chmod, renamed over the file
    tmp = path.with_name("sedAb12Cd")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode)
    os.replace(tmp, path)
    t = _p(tmp)
    return [
        FileCreatedEvent(t),
        FileModifiedEvent(t),
        touch_event(t),  # the chmod
        FileClosedEvent(t),
        FileMovedEvent(t, _p(path)),
    ]


def vim_style(path: Path, text: str) -> Events:  # the file renamed to a backup, written anew
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    path.write_text(text, encoding="utf-8")
    backup.unlink()
    s, b = _p(path), _p(backup)
    return [
        FileMovedEvent(s, b),
        FileCreatedEvent(s),
        FileModifiedEvent(s),
        FileClosedEvent(s),
        FileDeletedEvent(b),
    ]


def delete_create(path: Path, text: str) -> Events:
    path.unlink()
    path.write_text(text, encoding="utf-8")
    s = _p(path)
    return [FileDeletedEvent(s), FileCreatedEvent(s), FileModifiedEvent(s), FileClosedEvent(s)]


SAVES: dict[str, Callable[[Path, str], Events]] = {
    "in-place": in_place,
    "os.replace": rename_over,
    "sed -i": sed_i,
    "vim": vim_style,
    "delete+create": delete_create,
}


# -- saves become installs -----------------------------------------------------------------------
@pytest.mark.parametrize("save", SAVES.values(), ids=SAVES.keys())
def test_each_save_style_installs_once(
    project: Project,
    engine: FakeEngine,
    pip: Pip,
    req: Path,
    save: Callable[[Path, str], Events],
    capsys: pytest.CaptureFixture[str],
) -> None:
    new = req.read_text() + "tabulate\n"
    with watching(project, engine) as loop:
        loop.save(save(req, new))
        assert pip.installs == [("tabulate",)] and pip.services == ["torch"]
        loop.sink.settle()  # and nothing more afterwards
    assert pip.installs == [("tabulate",)]
    assert state_of(project).applied == new
    assert state_of(project).hot_installed == ["tabulate"]
    err = capsys.readouterr().err
    assert "watching the requirements of torch (fake events)" in err
    assert "docker_files/torch/requirements.txt changed: +tabulate; installing in torch" in err
    assert "installed in torch: tabulate" in err


def test_the_observer_is_asked_for_the_file_folder_and_the_poll_flag(
    project: Project, engine: FakeEngine, req: Path
) -> None:
    with watching(project, engine, poll=True) as loop:
        pass
    assert loop.observe_calls == [({req.parent.resolve()}, True)]


def test_ten_saves_in_a_burst_install_once(project: Project, engine: FakeEngine, pip: Pip, req: Path) -> None:
    text = req.read_text()
    with watching(project, engine) as loop:
        for i in range(10):  # 10 saves 0.2 s apart: never quiet for 0.5 s
            text += f"pkg{i}\n"
            loop.send(rename_over(req, text))
            loop.sink.advance(0.2)  # the loop looks at the clock and must find nothing due
            assert pip.installs == [], f"installed after save {i}, inside the burst"
        assert loop.sink.batches == []
        loop.sink.settle()
        loop.sink.settle()
    assert pip.installs == [tuple(f"pkg{i}" for i in range(10))]
    assert loop.sink.batches == [{"torch"}]
    assert state_of(project).applied == text


def test_a_file_rewritten_without_pause_is_still_installed(
    project: Project, engine: FakeEngine, pip: Pip, req: Path
) -> None:
    step = 0.25  # exact in binary: the cap falls on a known save
    cap = int(MAX_WAIT_S / step)
    text = req.read_text()
    first_install_at = None
    with watching(project, engine) as loop:
        for i in range(cap + 8):
            text += f"pkg{i}\n"
            loop.send(in_place(req, text))
            loop.sink.advance(step)
            if pip.installs and first_install_at is None:
                first_install_at = i + 1
        loop.sink.settle()
    assert first_install_at == cap  # MAX_WAIT_S after the first save, not when the writes stop
    assert pip.installs == [
        tuple(f"pkg{i}" for i in range(cap)),
        tuple(f"pkg{i}" for i in range(cap, cap + 8)),
    ]


def test_edits_during_an_install_make_one_follow_up(
    project: Project, engine: FakeEngine, pip: Pip, req: Path
) -> None:
    pip.hold = True
    first = req.read_text() + "tabulate\n"
    with watching(project, engine) as loop:
        loop.send(in_place(req, first))
        loop.sink.advance(QUIET_S, wait=False)  # the loop goes into pip and stays there
        assert pip.busy.wait(10)
        second = first + "six\n"
        loop.send(rename_over(req, second))  # two saves while pip runs
        loop.sink.advance(0.2, wait=False)
        final = second + "rich\n"
        loop.send(rename_over(req, final))
        loop.clock.advance(5.0)  # pip took a while
        pip.release.set()
        loop.sink.advance(0.0)  # the install ends; the loop takes what came meanwhile
        loop.sink.settle()
    assert pip.installs == [("tabulate",), ("six", "rich")]
    assert state_of(project).applied == final
    assert state_of(project).hot_installed == ["tabulate", "six", "rich"]


def test_touch_and_unchanged_saves_install_nothing(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with watching(project, engine) as loop:
        os.utime(req)
        loop.save([touch_event(_p(req))])  # a touch
        loop.save([DirModifiedEvent(_p(req.parent))])  # the folder
        other = req.with_name("notes.txt")
        other.write_text("not watched\n")
        loop.save([FileModifiedEvent(_p(other))])  # a neighbour
        # none of these even reached the loop; watchdog 6's touch does, as a modification
        touched = [] if ATTRIB_EVENTS else [{"torch"}]
        assert loop.sink.batches == touched
        loop.save(rename_over(req, req.read_text()))  # an editor saving unchanged content
        loop.save(in_place(req, req.read_text()))
        assert loop.sink.batches == [*touched, {"torch"}, {"torch"}]
    assert pip.installs == []
    assert state_of(project).applied is None
    assert "changed" not in capsys.readouterr().err


def test_comment_only_edits_install_nothing(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with watching(project, engine) as loop:
        loop.save(in_place(req, "# the lab, commented\nnumpy  # from NGC\n\n"))
        assert pip.installs == []
        loop.save(in_place(req, req.read_text() + "tabulate  # for tables\n"))
    assert pip.installs == [("tabulate",)]  # not numpy again: its line only got a comment
    err = capsys.readouterr().err
    assert err.count("changed:") == 1


# -- what pip cannot do in a running lab ----------------------------------------------------------
def test_removal_is_recorded_as_needing_a_build(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(project, hot_installed=["NumPy>=1", "six"])  # numpy was hot-installed earlier
    with watching(project, engine) as loop:
        loop.save(in_place(req, "# the lab\n"))
        assert pip.installs == []
        assert state_of(project).removed == ["numpy"]
        assert state_of(project).hot_installed == ["six"]
        assert state_of(project).applied == "# the lab\n"
        loop.save(in_place(req, "# the lab\nnumpy==2.1.0\n"))  # back again, pinned
    assert pip.installs == [("numpy==2.1.0",)]
    assert state_of(project).removed == []
    assert state_of(project).hot_installed == ["six", "numpy==2.1.0"]
    err = capsys.readouterr().err
    assert "changed: -numpy" in err and "the next `jlcompose up torch` rebuilds it" in err


def test_an_option_line_needs_a_build_and_a_new_package_is_still_installed(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = "--extra-index-url https://pypi.example.org/simple\n" + req.read_text() + "tabulate\n"
    with watching(project, engine) as loop:
        loop.save(in_place(req, new))
    assert pip.installs == [("tabulate",)]
    assert state_of(project).applied == new
    assert state_of(project).hot_installed == ["tabulate"]
    err = capsys.readouterr().err
    assert "changed: +tabulate (options or other lines); installing in torch" in err
    assert "the next `jlcompose up torch` rebuilds it" in err


def test_included_file_change_needs_a_build(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = req.with_name("common.txt")
    common.write_text("six\n")
    req.write_text(req.read_text() + "-r common.txt\n")
    with watching(project, engine) as loop:
        loop.save(in_place(common, "six\nrich\n"))
        assert state_of(project).applied == req.read_text()
    assert pip.installs == []
    err = capsys.readouterr().err
    assert "docker_files/torch/common.txt changed: (options or other lines)" in err
    assert "the next `jlcompose up torch` rebuilds it" in err


def test_included_files_are_watched_where_they_live(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = project.root / "constraints"
    shared.mkdir()
    (shared / "base.txt").write_text("six<2\n")
    req.write_text(req.read_text() + "-c ../../constraints/base.txt\n")
    extra = req.parent / "extra"
    extra.mkdir()
    more = extra / "more.txt"
    more.write_text("rich\n")
    with watching(project, engine) as loop:
        assert loop.observe_calls == [({req.parent.resolve(), shared.resolve()}, False)]
        loop.save(in_place(req, req.read_text() + "-r extra/more.txt\n"))  # a new include...
        assert extra.resolve() in loop.observed.added[-1]  # ...is watched from now on
        loop.save(in_place(more, "rich\nattrs\n"))
    assert pip.installs == []
    err = capsys.readouterr().err
    assert "docker_files/torch/extra/more.txt changed" in err


# -- failures never end the loop ---------------------------------------------------------------
def test_failed_install_records_nothing_and_keeps_watching(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pip.fail = {"nonexistent-pkg"}
    original = req.read_text()
    with watching(project, engine) as loop:
        loop.save(in_place(req, original + "nonexistent-pkg\n"))
        assert pip.installs == [("nonexistent-pkg",)]
        loop.save([FileModifiedEvent(_p(req))])  # a touch is not a reason to try again
        loop.save(rename_over(req, req.read_text()))  # nor is saving it unchanged
        assert pip.installs == [("nonexistent-pkg",)]
        assert state_of(project).applied is None
        assert state_of(project).hot_installed == []
        loop.save(in_place(req, original + "tabulate\n"))
    assert pip.installs == [("nonexistent-pkg",), ("tabulate",)]
    assert state_of(project).hot_installed == ["tabulate"]
    err = capsys.readouterr().err
    assert "pip found no package called nonexistent-pkg" in err
    assert "nothing was recorded; still watching" in err


def test_an_engine_error_keeps_the_loop_and_the_change_is_retried(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with watching(project, engine) as loop:
        engine.fail_all = EngineError("the Docker daemon stopped answering.")
        loop.save(in_place(req, req.read_text() + "tabulate\n"))
        assert loop.alive() and pip.installs == []
        engine.fail_all = None
        loop.save([FileModifiedEvent(_p(req))])  # the next event, even without new content
    assert pip.installs == [("tabulate",)]
    err = capsys.readouterr().err
    assert "the Docker daemon stopped answering." in err
    assert "still watching; the next save tries again" in err


def test_an_included_file_change_seen_during_an_engine_error_is_not_lost(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = req.with_name("common.txt")
    common.write_text("six\n")
    req.write_text(req.read_text() + "-r common.txt\n")
    with watching(project, engine) as loop:
        engine.fail_all = EngineError("the Docker daemon stopped answering.")
        loop.save(in_place(common, "six\nrich\n"))
        engine.fail_all = None
        loop.save([FileModifiedEvent(_p(common))])  # the next event finds the change again
        assert state_of(project).applied == req.read_text()
    assert "docker_files/torch/common.txt changed: (options or other lines)" in capsys.readouterr().err


def test_a_lab_that_is_not_running_is_only_told(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.running.clear()
    with watching(project, engine) as loop:
        loop.save(in_place(req, req.read_text() + "tabulate\n"))
    assert pip.installs == []
    assert state_of(project).applied is None
    assert "torch is not running, the next `jlcompose up` builds it" in capsys.readouterr().err


def test_deleted_then_restored(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = req.read_text()
    with watching(project, engine) as loop:
        req.unlink()
        loop.save([FileDeletedEvent(_p(req))])
        loop.save([FileDeletedEvent(_p(req))])  # warned once, not at every event
        assert pip.installs == []
        req.write_text(text + "tabulate\n")
        loop.save([FileCreatedEvent(_p(req)), FileModifiedEvent(_p(req))])
    assert pip.installs == [("tabulate",)]
    assert capsys.readouterr().err.count("requirements.txt is gone; still watching") == 1


def test_unreadable_file_warns_and_keeps_watching(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = req.read_text()
    with watching(project, engine) as loop:
        req.write_bytes(b"\xff\xfe not utf-8\n")
        loop.save([FileModifiedEvent(_p(req))])
        req.write_text(text + "tabulate\n")
        loop.save([FileModifiedEvent(_p(req))])
    assert pip.installs == [("tabulate",)]
    assert "cannot read docker_files/torch/requirements.txt" in capsys.readouterr().err


# -- where the loop starts from -------------------------------------------------------------------
def test_catches_up_with_edits_made_while_nobody_watched(
    project: Project, engine: FakeEngine, pip: Pip, req: Path
) -> None:
    old = req.read_text()
    record(project, applied=old)  # what the running lab answers to
    req.write_text(old + "tabulate\n")
    with watching(project, engine) as loop:
        assert pip.installs == [("tabulate",)]  # before `ready`: no event needed
        loop.sink.settle()
    assert pip.installs == [("tabulate",)]
    assert state_of(project).applied == old + "tabulate\n"


def test_without_a_record_the_file_at_start_is_the_baseline(
    project: Project, engine: FakeEngine, pip: Pip, req: Path
) -> None:
    with watching(project, engine) as loop:
        assert pip.installs == []  # numpy came with the image; nothing to catch up with
        loop.save(in_place(req, req.read_text() + "tabulate\n"))
    assert pip.installs == [("tabulate",)]


def test_two_services_each_change_goes_to_its_own_lab(project: Project, engine: FakeEngine, pip: Pip) -> None:
    engine.start("tf")
    torch, tf = project.services["torch"].requirements, project.services["tf"].requirements
    with watching(project, engine, ["torch", "tf"]) as loop:
        loop.send(in_place(torch, torch.read_text() + "tabulate\n"))
        loop.send(rename_over(tf, tf.read_text() + "rich\n"))
        loop.sink.settle()
        assert loop.sink.batches == [{"torch", "tf"}]
    assert sorted(zip(pip.services, pip.installs, strict=True)) == [
        ("tf", ("rich",)),
        ("torch", ("tabulate",)),
    ]
    assert state_of(project, "tf").hot_installed == ["rich"]
    assert state_of(project, "torch").hot_installed == ["tabulate"]


# -- --rebuild ------------------------------------------------------------------------------------
def test_rebuild_runs_up_for_the_service(
    project: Project,
    engine: FakeEngine,
    pip: Pip,
    req: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[tuple[Engine, list[str], dict[str, Any]]] = []
    fail: list[JlcomposeError] = []

    def fake_up(p: Project, e: Engine, names: Sequence[str], **kw: Any) -> int:
        calls.append((e, list(names), kw))
        if fail:
            raise fail.pop()
        return 0

    monkeypatch.setattr(watch_module, "up", fake_up)
    with watching(project, engine, rebuild=True) as loop:
        loop.save(in_place(req, req.read_text() + "tabulate\n"))
        assert calls == [(engine, ["torch"], {"gpu": project.config.gpu, "recreate": True})]
        record(project, mode="cpu")  # a lab that runs on CPU stays on CPU
        fail.append(BuildFailed("building the torch image failed; the running lab was left as it was."))
        loop.save(in_place(req, req.read_text() + "six\n"))
        assert loop.alive()
        loop.save(in_place(req, req.read_text() + "rich\n"))
    assert [(names, kw) for _, names, kw in calls[1:]] == [(["torch"], {"gpu": "cpu", "recreate": True})] * 2
    assert pip.installs == []
    err = capsys.readouterr().err
    assert "changed: +tabulate; rebuilding torch" in err
    assert "the running lab was left as it was; still watching" in err


# -- pipreq and the watcher ------------------------------------------------------------------------
def _pipreq_write(req: Path) -> Events:
    """The events of pipreq's atomic write (a temp file renamed over the requirements file)."""
    tmp = _p(req.with_name(f".{req.name}.x1y2.tmp"))
    return [FileCreatedEvent(tmp), FileModifiedEvent(tmp), FileMovedEvent(tmp, _p(req))]


def test_pipreq_writes_are_not_installed_again(
    project: Project, engine: FakeEngine, pip: Pip, req: Path
) -> None:
    with watching(project, engine) as loop:
        assert pipreq(project, engine, ["tabulate"], [project.service("torch")]) == 0
        loop.save(_pipreq_write(req))
        assert loop.sink.batches == [{"torch"}]  # the loop did look
    assert pip.installs == [("tabulate",)]  # pipreq's own, and nothing from the watcher
    assert state_of(project).applied == req.read_text()


def test_the_watcher_waits_for_pipreq_to_record(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pipreq writes the file, then records "applied" (state.json): the watcher, woken by the
    # write, must wait for that record (the requirements lock) before it reads the file
    real_update = StateDir.update
    asked = threading.Event()
    held: list[bool] = []

    @contextlib.contextmanager
    def spied_lock(path: Path, *, timeout: float = 120.0, what: str = "this project") -> Iterator[None]:
        asked.set()  # the watcher asks for the requirements lock (pipreq holds it)
        with real_locked(path, timeout=timeout, what=what):
            yield

    monkeypatch.setattr(watch_module, "locked", spied_lock)
    with watching(project, engine) as loop:
        asked.clear()  # the catch-up at start took it too

        def late_update(self: StateDir, change: Callable[[State], None]) -> State:
            if threading.current_thread() is threading.main_thread() and not held:  # pipreq records
                held.append(True)
                assert "tabulate" in req.read_text().split(), "not between the write and the record"
                loop.send(_pipreq_write(req))  # the write's events; the quiet period passes
                loop.sink.advance(QUIET_S, wait=False)
                asked.wait(5)  # the watcher has its event and reaches for the file
            return real_update(self, change)

        monkeypatch.setattr(StateDir, "update", late_update)
        assert pipreq(project, engine, ["tabulate"], [project.service("torch")]) == 0
        loop.sink.advance(0.0)
    assert held and asked.is_set(), "the watcher read the file without the requirements lock"
    assert pip.installs == [("tabulate",)]
    assert loop.sink.batches == [{"torch"}]


def test_concurrent_pipreqs_and_a_watcher_install_each_package_once(
    project: Project, engine: FakeEngine, pip: Pip, req: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_update = StateDir.update
    names = [f"pkg{i}" for i in range(20)]
    errors: list[BaseException] = []
    with watching(project, engine) as loop:

        def racing_update(self: StateDir, change: Callable[[State], None]) -> State:
            if threading.current_thread() is not loop.thread:  # a pipreq: the watcher wakes mid-way
                loop.send(_pipreq_write(req))
                loop.sink.advance(QUIET_S, wait=False)
            return real_update(self, change)

        monkeypatch.setattr(StateDir, "update", racing_update)

        def one(name: str) -> None:
            try:
                pipreq(project, engine, [name], [project.service("torch")])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        loop.sink.settle()
    assert errors == []
    assert sorted(r for reqs in pip.installs for r in reqs) == sorted(names)
    assert all(len(reqs) == 1 for reqs in pip.installs)
    assert all(n in req.read_text().split() for n in names)
    assert sorted(state_of(project).hot_installed) == sorted(names)
    assert state_of(project).applied == req.read_text()


# -- one watcher per project: pidfile, --detach, --stop ------------------------------------------
def _pidfile(project: Project) -> Path:
    return project.state.path / "watch.pid"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@contextlib.contextmanager
def _lookalike() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line reads like `jlcompose watch` (it only sleeps)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "jlcompose", "watch"])
    # until the child has exec'd, /proc shows the parent's command line (a race seen on 3.13)
    cmdline = Path(f"/proc/{child.pid}/cmdline")
    deadline = time.monotonic() + 10
    while cmdline.exists() and b"watch" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_the_pidfile_names_the_loop_while_it_runs_and_a_stale_one_is_replaced(
    project: Project, engine: FakeEngine, req: Path
) -> None:
    project.state.ensure()
    _pidfile(project).write_text(f"{_dead_pid()}\n")
    with watching(project, engine):
        assert _pidfile(project).read_text().strip() == str(os.getpid())
        assert watcher_pid(project) == os.getpid()
    assert not _pidfile(project).exists()


def test_a_second_watcher_is_refused_before_it_watches(
    project: Project, engine: FakeEngine, req: Path
) -> None:
    loop = Loop(project, engine, ["torch"])
    loop.stop.set()  # were it let through, it would end at once instead of hanging the test
    project.state.ensure()
    with _lookalike() as other:
        _pidfile(project).write_text(f"{other.pid}\n")
        with pytest.raises(JlcomposeError, match=f"already runs for this project \\(PID {other.pid}\\)"):
            watch(
                project,
                engine,
                ["torch"],
                poll=False,
                rebuild=False,
                sink=loop.sink,
                observe=loop.observe,
                stop=loop.stop,
            )
        assert _pidfile(project).read_text().strip() == str(other.pid)  # not taken over
    assert loop.observe_calls == []


def test_detach_refuse_second_and_stop_via_cli(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(project.root)
    loop = Loop(project, engine, ["torch"])
    loop.stop.set()  # a foreground watcher let through ends at once instead of hanging the test

    def foreground(p: Project, e: Engine, services: Sequence[str], **kw: Any) -> int:
        return watch(p, e, services, **kw, sink=loop.sink, observe=loop.observe, stop=loop.stop)

    monkeypatch.setattr(watch_command, "watch", foreground)
    assert cli.main(["-C", root, "watch", "--detach"]) == 0
    pid = watcher_pid(project)
    assert pid is not None and pid != os.getpid()
    stopped = False
    try:
        assert _pidfile(project).read_text().strip() == str(pid)
        assert os.getsid(pid) == pid  # its own session: the terminal's Ctrl-C does not reach it
        capsys.readouterr()
        assert cli.main(["-C", root, "watch", "--detach"]) == 1
        assert cli.main(["-C", root, "watch", "torch"], open_engine=lambda: engine) == 1
        assert capsys.readouterr().err.count(f"a watcher already runs for this project (PID {pid})") == 2
        assert loop.observe_calls == []
        assert cli.main(["-C", root, "watch", "--stop"]) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        stopped = True
    finally:
        if not stopped:  # still our unreaped child, so the PID is not someone else's yet
            os.kill(pid, signal.SIGKILL)
    assert watcher_pid(project) is None and not _pidfile(project).exists()
    log = (project.state.path / "watch.log").read_text()
    assert "watching the requirements of torch (inotify events)" in log
    assert "stopped watching" in log
    assert f"stopped the watcher (PID {pid})" in capsys.readouterr().err


def test_stop_removes_a_stale_pidfile(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.state.ensure()
    _pidfile(project).write_text(f"{_dead_pid()}\n")
    assert watcher_pid(project) is None
    assert stop_watcher(project) == 0
    assert not _pidfile(project).exists()
    assert "removed a stale pidfile" in capsys.readouterr().err


def test_stop_never_signals_a_process_that_is_not_a_watcher(project: Project) -> None:
    project.state.ensure()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _pidfile(project).write_text(f"{other.pid}\n")
        assert watcher_pid(project) is None
        assert stop_watcher(project) == 0
        assert other.poll() is None  # still running
        assert not _pidfile(project).exists()
    finally:
        other.kill()
        other.wait()


def test_stop_without_a_watcher_via_cli(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-C", str(project.root), "watch", "--stop"]) == 0
    assert "no watcher runs for this project" in capsys.readouterr().err


def test_unknown_service_fails_before_anything(project: Project, engine: FakeEngine) -> None:
    loop = Loop(project, engine, ["nope"])
    assert cli.main(["-C", str(project.root), "watch", "nope", "--detach"]) == 2
    with pytest.raises(JlcomposeError, match="unknown service 'nope'"):
        watch(project, engine, ["nope"], poll=False, rebuild=False, sink=loop.sink, observe=loop.observe)
    assert loop.observe_calls == []
    assert not _pidfile(project).exists()
    assert watcher_pid(project) is None


def test_the_cli_hands_services_flags_and_engine_to_the_loop(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, Engine, list[str], dict[str, Any]]] = []

    def fake_watch(p: Project, e: Engine, services: Sequence[str], **kw: Any) -> int:
        calls.append((p.root, e, list(services), kw))
        return 0

    monkeypatch.setattr(watch_command, "watch", fake_watch)
    root = str(project.root)
    assert (
        cli.main(["-C", root, "watch", "tf", "torch", "--poll", "--rebuild"], open_engine=lambda: engine) == 0
    )
    assert cli.main(["-C", root, "watch"], open_engine=lambda: engine) == 0
    assert calls == [
        (project.root, engine, ["tf", "torch"], {"poll": True, "rebuild": True}),
        (project.root, engine, [], {"poll": False, "rebuild": False}),
    ]


# -- signals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signals_stop_a_real_watcher_cleanly(project: Project, sig: signal.Signals, code: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "jlcompose", "-C", str(project.root), "watch", "torch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a test run started in the background (`cmd &`) ignores SIGINT, and so would the child:
        # Python then never turns Ctrl-C into KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    guard = threading.Timer(30, child.kill)  # a watcher that never speaks fails the test, not the run
    guard.start()
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # printed once the observer runs
        assert "watching the requirements of torch" in first
        assert watcher_pid(project) == child.pid
        child.send_signal(sig)
        out, _ = child.communicate(timeout=10)
    finally:
        guard.cancel()
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == code, out
    assert "stopped watching" in out
    assert not _pidfile(project).exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_end_the_loop_after_its_step(
    project: Project, engine: FakeEngine, req: Path, sig: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = Loop(project, engine, ["torch"])
    missed: list[int] = []

    def fallback(signum: int, frame: FrameType | None) -> None:  # reached only if watch installed none
        if not loop.stop.is_set():
            missed.append(signum)
        loop.stop.set()

    def send() -> None:
        with loop.sink.turns:  # the loop is caught up and waits for events
            loop.sink.turns.wait_for(lambda: loop.sink.idle > 0, timeout=10)
        # a signal landing just before the loop blocks is handled only after its tick (0.25 s):
        # sent again until handled, so the loop ends at once
        for _ in range(500):
            if not loop.ready.is_set() or loop.stop.is_set():
                break
            signal.pthread_kill(threading.main_thread().ident or 0, sig)
            loop.stop.wait(0.02)
        loop.sink.wake()

    previous = signal.signal(sig, fallback)
    sender = threading.Thread(target=send)
    try:
        sender.start()
        rc = watch(  # in the main thread: only there may the loop listen for signals
            project,
            engine,
            ["torch"],
            poll=False,
            rebuild=False,
            clock=loop.clock,
            sink=loop.sink,
            observe=loop.observe,
            stop=loop.stop,
            ready=loop.ready,
        )
        sender.join(10)
        assert signal.getsignal(sig) is fallback  # put back as it was
    finally:
        signal.signal(sig, previous)
    assert rc == 0 and missed == []
    assert loop.observed.stopped and not _pidfile(project).exists()
    assert "stopped watching" in capsys.readouterr().err


# -- the watchdog glue (observer.start) -----------------------------------------------------------
class Heard(EventSink):
    """An EventSink that says when an event about one file arrived (from a real observer)."""

    def __init__(self, clock: FakeClock, files: Iterable[Path]) -> None:
        super().__init__(clock)
        self.files = {f.resolve() for f in files}
        self.heard = threading.Event()

    def dispatch(self, event: FileSystemEvent) -> None:
        super().dispatch(event)
        if watcher.is_relevant(event, self.files):
            self.heard.set()


@pytest.mark.parametrize("poll", [False, True], ids=["native", "polling"])
def test_a_real_observer_feeds_saves_to_the_sink(project: Project, req: Path, poll: bool) -> None:
    clock = FakeClock()
    sink = Heard(clock, [req])
    dirs = sink.set_files({"torch": [req.resolve()]})
    observed = observer.start(sink, dirs, poll=poll)
    try:
        assert (observed.mode == "polling every 0.5 s because --poll was given") is poll
        rename_over(req, req.read_text() + "tabulate\n")
        assert sink.heard.wait(5), "no event reached the sink"
        clock.advance(QUIET_S)
        assert sink.take(0.0) == {"torch"}
    finally:
        observed.stop()
    assert not observed.observer.is_alive()


def test_add_watches_new_folders(project: Project, req: Path) -> None:
    more = req.parent / "extra" / "more.txt"
    more.parent.mkdir()
    more.write_text("rich\n")
    clock = FakeClock()
    sink = Heard(clock, [more])
    observed = observer.start(sink, {req.parent.resolve()}, poll=False)
    try:
        dirs = sink.set_files({"torch": [req.resolve(), more.resolve()]})
        observed.add(dirs)
        in_place(more, "rich\nattrs\n")
        assert sink.heard.wait(5), "the new folder is not watched"
        clock.advance(QUIET_S)
        assert sink.take(0.0) == {"torch"}
    finally:
        observed.stop()


@pytest.mark.parametrize(
    ("err", "where", "why"),
    [(errno.ENOSPC, "start", "inotify watch limit"), (errno.EMFILE, "schedule", "instance limit")],
)
def test_inotify_limits_fall_back_to_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, where: str, why: str
) -> None:
    class Exhausted(PollingObserver):  # an inotify observer on a machine out of watches
        def schedule(self, *args: Any, **kwargs: Any) -> Any:
            if where == "schedule":
                raise OSError(err, os.strerror(err))
            return super().schedule(*args, **kwargs)

        def start(self) -> None:
            if where == "start":
                raise OSError(err, os.strerror(err))
            super().start()

    monkeypatch.setattr(watchdog.observers, "Observer", Exhausted)
    sink = EventSink(FakeClock())
    observed = observer.start(sink, sink.set_files({"torch": [tmp_path / "requirements.txt"]}), poll=False)
    try:
        assert type(observed.observer) is PollingObserver
        assert observed.mode.startswith("polling every 0.5 s because") and why in observed.mode
        assert observed.dirs == {tmp_path}
    finally:
        observed.stop()


def test_other_observer_errors_are_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(PollingObserver):
        def start(self) -> None:
            raise OSError(errno.EACCES, "permission denied")

    monkeypatch.setattr(watchdog.observers, "Observer", Broken)
    with pytest.raises(PermissionError):
        observer.start(EventSink(FakeClock()), {tmp_path}, poll=False)
