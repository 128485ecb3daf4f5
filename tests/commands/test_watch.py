"""`jlcompose watch`: the real loop and a real observer over a tmp project, with a FakeEngine."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import watchdog.observers
from watchdog.observers.polling import PollingObserver

from jlcompose import hotinstall, watcher
from jlcompose.cli import main
from jlcompose.commands import pipreq as pipreq_command
from jlcompose.commands import up as up_command
from jlcompose.commands import watch as watch_command
from jlcompose.commands.pipreq import pipreq
from jlcompose.commands.watch import detach, stop_watcher, watch, watcher_pid
from jlcompose.errors import JlcomposeError
from jlcompose.project import Project
from tests.commands.conftest import Factory
from tests.fakes import FakeEngine

SETTLE_S = 1.0  # past the 0.5 s quiet period, time for a wrong second install to show up


class Pip:
    """FakeEngine.exec_handler for `pip install`: records what and when, can be slow or fail."""

    def __init__(self, *, delay: float = 0.0, fail: Sequence[str] = ()) -> None:
        self.delay = delay
        self.fail = set(fail)
        self.installs: list[tuple[str, ...]] = []
        self.started: list[float] = []

    def __call__(self, service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        reqs = tuple(argv[list(argv).index("install") + 1 :])
        self.started.append(time.monotonic())
        self.installs.append(reqs)
        time.sleep(self.delay)
        if self.fail & set(reqs):
            return 1, [f"ERROR: No matching distribution found for {sorted(self.fail)[0]}"]
        return 0, [f"Successfully installed {' '.join(reqs)}"]

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.installs) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.installs) >= count, f"expected {count} installs, saw {self.installs}"


def start_lab(engine: FakeEngine, service: str = "torch") -> None:
    engine.start(service)


@pytest.fixture
def pip(engine: FakeEngine) -> Pip:
    handler = Pip()
    engine.exec_handler = handler
    start_lab(engine)
    return handler


@pytest.fixture
def req(project: Project) -> Path:
    path = project.services["torch"].requirements
    path.write_text("# the lab\nnumpy\n")
    return path


@contextlib.contextmanager
def watching(project: Project, factory: Factory, **kwargs: Any) -> Iterator[threading.Thread]:
    """The real watch loop in a thread; stops it (and checks it ended well) on exit."""
    stop, ready = threading.Event(), threading.Event()
    result: list[int] = []
    options = {"poll": False, "rebuild": False, **kwargs}

    def target() -> None:
        result.append(watch(project, ["torch"], engine_factory=factory, stop=stop, ready=ready, **options))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert ready.wait(10), "the watcher did not start"
    try:
        yield thread
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and result == [0]


def state_of(project: Project) -> dict[str, Any]:
    return project.read_state().get("services", {}).get("torch", {})


# -- how editors save ----------------------------------------------------------------------
def in_place(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)


def rename_over(path: Path, text: str) -> None:
    tmp = path.with_name(".requirements.txt.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def sed_i(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8")
    assert text == old + "tabulate\n"
    subprocess.run(["sed", "-i", "$a tabulate", str(path)], check=True)


def vim_style(path: Path, text: str) -> None:
    backup = path.with_name("requirements.txt~")
    os.rename(path, backup)
    path.write_text(text, encoding="utf-8")
    backup.unlink()


def delete_create(path: Path, text: str) -> None:
    path.unlink()
    path.write_text(text, encoding="utf-8")


SAVES: dict[str, Callable[[Path, str], None]] = {
    "in-place": in_place,
    "os.replace": rename_over,
    "sed -i": sed_i,
    "vim": vim_style,
    "delete+create": delete_create,
}


@pytest.mark.parametrize("save", SAVES.values(), ids=SAVES.keys())
def test_each_save_style_installs_once(project, factory, pip, req, save, capsys):
    new = req.read_text() + "tabulate\n"
    with watching(project, factory):
        saved = time.monotonic()
        save(req, new)
        pip.wait_for(1)
        time.sleep(SETTLE_S)
    latency = pip.started[0] - saved
    assert pip.installs == [("tabulate",)]
    assert state_of(project)["applied"] == new
    assert state_of(project)["hot_installed"] == ["tabulate"]
    err = capsys.readouterr().err
    assert "docker_files/torch/requirements.txt changed: +tabulate; installing in torch" in err
    assert "installed in torch: tabulate" in err
    print(f"save -> install start: {latency:.3f} s ({save.__name__})")  # shown with -rP
    assert latency < 3.0  # generous: the quiet period alone is 0.5 s


def test_polling_mode_installs_once(project, factory, pip, req, capsys):
    with watching(project, factory, poll=True):
        in_place(req, req.read_text() + "tabulate\n")
        pip.wait_for(1)
        time.sleep(SETTLE_S)
    assert pip.installs == [("tabulate",)]
    assert "polling every 0.5 s because --poll was given" in capsys.readouterr().err


def test_ten_saves_in_two_seconds_install_once(project, factory, pip, req):
    text = req.read_text()
    with watching(project, factory):
        for i in range(10):
            text += f"pkg{i}\n"
            rename_over(req, text)
            time.sleep(0.2)
        pip.wait_for(1)
        time.sleep(SETTLE_S)
    assert pip.installs == [tuple(f"pkg{i}" for i in range(10))]


def test_touch_and_same_content_do_nothing(project, factory, pip, req):
    with watching(project, factory):
        os.utime(req)
        rename_over(req, req.read_text())  # an editor saving unchanged content
        req.write_text(req.read_text().replace("numpy", "numpy  # a comment"))
        time.sleep(SETTLE_S)
    assert pip.installs == []


def test_deleted_then_recreated(project, factory, pip, req, capsys):
    text = req.read_text()
    with watching(project, factory) as thread:
        req.unlink()
        time.sleep(SETTLE_S)
        assert thread.is_alive() and pip.installs == []
        req.write_text(text + "tabulate\n")
        pip.wait_for(1)
        time.sleep(SETTLE_S)
    assert pip.installs == [("tabulate",)]
    err = capsys.readouterr().err
    assert err.count("requirements.txt is gone; still watching") == 1


def test_unreadable_file_warns_and_keeps_watching(project, factory, pip, req, capsys):
    text = req.read_text()
    with watching(project, factory) as thread:
        req.write_bytes(b"\xff\xfe not utf-8\n")
        time.sleep(SETTLE_S)
        assert thread.is_alive()
        req.write_text(text + "tabulate\n")
        pip.wait_for(1)
    assert pip.installs == [("tabulate",)]
    assert "cannot read docker_files/torch/requirements.txt" in capsys.readouterr().err


def test_edits_during_a_slow_install_make_one_follow_up(project, factory, pip, req):
    pip.delay = 1.0
    text = req.read_text() + "tabulate\n"
    with watching(project, factory):
        in_place(req, text)
        pip.wait_for(1)
        for extra in ("six\n", "rich\n"):  # two saves while pip runs
            text += extra
            rename_over(req, text)
            time.sleep(0.2)
        pip.wait_for(2, timeout=8)
        time.sleep(pip.delay + SETTLE_S)
    assert pip.installs == [("tabulate",), ("six", "rich")]
    assert state_of(project)["applied"] == text
    assert state_of(project)["hot_installed"] == ["tabulate", "six", "rich"]


def test_failed_install_records_nothing_and_keeps_watching(project, factory, pip, req, capsys):
    pip.fail = {"nonexistent-pkg"}
    original = req.read_text()
    with watching(project, factory):
        in_place(req, original + "nonexistent-pkg\n")
        pip.wait_for(1)
        time.sleep(SETTLE_S)
        os.utime(req)  # not a reason to try again
        rename_over(req, req.read_text())  # nor is saving it unchanged
        time.sleep(SETTLE_S)
        assert state_of(project).get("applied") is None
        assert pip.installs == [("nonexistent-pkg",)]
        in_place(req, original + "tabulate\n")
        pip.wait_for(2)
        time.sleep(SETTLE_S)
    assert pip.installs == [("nonexistent-pkg",), ("tabulate",)]
    assert state_of(project)["hot_installed"] == ["tabulate"]
    err = capsys.readouterr().err
    assert "pip found no package called nonexistent-pkg" in err
    assert "nothing was recorded; still watching" in err


def test_removal_marks_the_image_stale(project, factory, pip, req, capsys):
    hot = {"hot_installed": ["NumPy>=1", "six"]}  # numpy was hot-installed earlier
    project.update_state(lambda s: s.setdefault("services", {}).setdefault("torch", {}).update(hot))
    with watching(project, factory):
        in_place(req, "# the lab\n")
        time.sleep(SETTLE_S)
        assert pip.installs == []
        assert state_of(project)["removed"] == ["numpy"]
        assert state_of(project)["hot_installed"] == ["six"]
        assert state_of(project)["applied"] == "# the lab\n"
        in_place(req, "# the lab\nnumpy==2.1.0\n")  # back again, pinned
        pip.wait_for(1)
        time.sleep(SETTLE_S)
    assert pip.installs == [("numpy==2.1.0",)]
    assert state_of(project)["removed"] == []
    err = capsys.readouterr().err
    assert "changed: -numpy" in err and "the next `jlcompose up torch` rebuilds it" in err


def test_not_running_only_reports(project, factory, engine, pip, req, capsys):
    engine.running.clear()
    with watching(project, factory):
        in_place(req, req.read_text() + "tabulate\n")
        time.sleep(SETTLE_S)
    assert pip.installs == []
    assert "torch is not running, the next `jlcompose up` builds it" in capsys.readouterr().err


def test_rebuild_runs_up_for_the_service(project, factory, pip, req, monkeypatch):
    calls: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr(up_command, "up", lambda p, names, **kw: calls.append((names, kw)) or 0)
    with watching(project, factory, rebuild=True):
        in_place(req, req.read_text() + "tabulate\n")
        time.sleep(SETTLE_S + 0.5)
    assert pip.installs == []
    assert [names for names, _ in calls] == [["torch"]]
    assert calls[0][1]["recreate"] is True and calls[0][1]["engine_factory"] is factory


def test_catches_up_with_edits_made_before_it_started(project, factory, pip, req):
    old = req.read_text()
    project.update_state(lambda s: s.setdefault("services", {}).setdefault("torch", {}).update(applied=old))
    req.write_text(old + "tabulate\n")
    with watching(project, factory):
        pip.wait_for(1)
        time.sleep(SETTLE_S)
    assert pip.installs == [("tabulate",)]


def test_included_file_change_needs_a_build(project, factory, pip, req, capsys):
    common = req.with_name("common.txt")
    common.write_text("six\n")
    req.write_text(req.read_text() + "-r common.txt\n")
    with watching(project, factory):
        in_place(common, "six\nrich\n")
        time.sleep(SETTLE_S)
    assert pip.installs == []
    err = capsys.readouterr().err
    assert "docker_files/torch/common.txt changed" in err and "rebuilds it" in err


def test_pipreq_writes_are_not_installed_twice(project, factory, engine, pip, req):
    services = [project.services["torch"]]
    with watching(project, factory):
        pipreq(project, engine, ["tabulate"], services)
        time.sleep(SETTLE_S)
    assert pip.installs == [("tabulate",)]  # pipreq's own, and nothing from the watcher


def test_pipreq_slow_to_record_is_waited_for(project, factory, engine, pip, req, monkeypatch):
    # pipreq writes the file, then records "applied": the watcher must not act in between
    def slow_record(*args: Any) -> None:
        time.sleep(1.0)  # longer than the watcher's quiet period
        hotinstall.record(*args)

    monkeypatch.setattr(pipreq_command, "record", slow_record)
    with watching(project, factory):
        pipreq(project, engine, ["tabulate"], [project.services["torch"]])
        time.sleep(SETTLE_S)
    assert pip.installs == [("tabulate",)]


def test_concurrent_pipreqs_and_a_watcher_install_each_package_once(project, factory, engine, pip, req):
    services = [project.services["torch"]]
    names = [f"pkg{i}" for i in range(20)]
    with watching(project, factory):
        threads = [threading.Thread(target=pipreq, args=(project, engine, [n], services)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        time.sleep(SETTLE_S)
    assert sorted(r for reqs in pip.installs for r in reqs) == sorted(names)
    assert all(len(reqs) == 1 for reqs in pip.installs)
    assert all(n in req.read_text().split() for n in names)


# -- one watcher per project: --detach, --stop, pidfile ----------------------------------------
def _pidfile(project: Project) -> Path:
    return project.state_dir / "watch.pid"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_detach_refuse_second_and_stop(project, capsys):
    assert detach(project, ["torch"], poll=False, rebuild=False) == 0
    pid = watcher_pid(project)
    assert pid is not None and pid != os.getpid()
    assert _pidfile(project).read_text().strip() == str(pid)
    assert os.getsid(pid) == pid  # its own session: the terminal's Ctrl-C does not reach it
    try:
        with pytest.raises(JlcomposeError, match=f"already runs for this project \\(PID {pid}\\)"):
            detach(project, ["torch"], poll=False, rebuild=False)
        with pytest.raises(JlcomposeError, match="already runs"):
            watch(project, ["torch"], poll=False, rebuild=False, engine_factory=Factory(FakeEngine()))
    finally:
        assert stop_watcher(project) == 0
    assert watcher_pid(project) is None and not _pidfile(project).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    log = (project.state_dir / "watch.log").read_text()
    assert "watching the requirements of torch (inotify events)" in log
    assert "stopped watching" in log
    assert f"stopped the watcher (PID {pid})" in capsys.readouterr().err


def test_stale_pidfile_is_removed_and_replaced(project, capsys):
    project.ensure_state_dir()
    _pidfile(project).write_text(f"{_dead_pid()}\n")
    assert watcher_pid(project) is None
    assert stop_watcher(project) == 0
    assert not _pidfile(project).exists()
    assert "removed a stale pidfile" in capsys.readouterr().err
    _pidfile(project).write_text(f"{_dead_pid()}\n")
    assert detach(project, ["torch"], poll=False, rebuild=False) == 0
    stop_watcher(project)


def test_stop_never_signals_a_process_that_is_not_a_watcher(project):
    project.ensure_state_dir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _pidfile(project).write_text(f"{other.pid}\n")
        assert watcher_pid(project) is None
        assert stop_watcher(project) == 0
        assert other.poll() is None  # still running
        assert not _pidfile(project).exists()
    finally:
        other.kill()
        other.wait()


def test_stop_without_a_watcher_via_cli(project, capsys):
    assert main(["-C", str(project.root), "watch", "--stop"]) == 0
    assert "no watcher runs for this project" in capsys.readouterr().err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signals_stop_cleanly(project, sig, code):
    child = subprocess.Popen(
        [sys.executable, "-m", "jlcompose", "-C", str(project.root), "watch", "torch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # printed once the observer runs
        assert "watching the requirements of torch" in first
        assert watcher_pid(project) == child.pid
        child.send_signal(sig)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == code, out
    assert "stopped watching" in out
    assert not _pidfile(project).exists()


def test_unknown_service_fails_before_anything(project):
    with pytest.raises(JlcomposeError, match="unknown service"):
        detach(project, ["nope"], poll=False, rebuild=False)
    assert not _pidfile(project).exists()
    assert watch_command.watcher_pid(project) is None


@pytest.mark.parametrize(
    ("err", "where", "why"),
    [(errno.ENOSPC, "start", "inotify watch limit"), (errno.EMFILE, "schedule", "instance limit")],
)
def test_inotify_limits_fall_back_to_polling(tmp_path, monkeypatch, err, where, why):
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
    sink = watcher.EventSink({"torch": [tmp_path / "requirements.txt"]}, time.monotonic)
    observed = watcher.start(sink, {tmp_path}, poll=False)
    try:
        assert type(observed.observer) is PollingObserver
        assert observed.mode.startswith("polling every 0.5 s because") and why in observed.mode
    finally:
        observed.stop()


def test_other_observer_errors_are_not_hidden(tmp_path, monkeypatch):
    class Broken(PollingObserver):
        def start(self) -> None:
            raise OSError(errno.EACCES, "permission denied")

    monkeypatch.setattr(watchdog.observers, "Observer", Broken)
    sink = watcher.EventSink({}, time.monotonic)
    with pytest.raises(PermissionError):
        watcher.start(sink, {tmp_path}, poll=False)
