"""Processes jlcompose runs in the background: the one watcher per project (its pidfile,
`watch --detach`, `watch --stop`), how such a process is started and logged, and its signals."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from jlcompose import console
from jlcompose.errors import ExitCode, JlcomposeError
from jlcompose.files import atomic_write
from jlcompose.project import Project

STOP_WAIT_S = 30.0
_spawned: dict[int, subprocess.Popen[bytes]] = {}  # background watchers this process started


def adopt(child: subprocess.Popen[bytes]) -> None:
    """A background process this process started: reaped when it ends (no zombie left)."""
    _spawned[child.pid] = child


def spawn_logged(project: Project, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """`jlcompose -C ROOT ARGS...` in a session of its own, appending to `log` under a dated header."""
    argv = [sys.executable, "-m", "jlcompose", "-C", str(project.root), *args]
    with log.open("ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n".encode())
        out.flush()
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=project.root,
            start_new_session=True,
        )
    adopt(child)
    return child


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGHUP set `stop`, so a loop ends after its current step (main thread only)."""
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


def reap(pid: int) -> None:
    if (child := _spawned.get(pid)) is not None and child.poll() is not None:
        _spawned.pop(pid, None)


def _pidfile(project: Project) -> Path:
    return project.state.watch_pid


def _read_pid(project: Project) -> int | None:
    try:
        return int(_pidfile(project).read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and surely not our watcher
    with contextlib.suppress(OSError):  # a zombie is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        return stat.rpartition(")")[2].split()[0] != "Z"
    return True


def alive(pid: int) -> bool:
    return _alive(pid)


def runs_jlcompose(pid: int, words: set[str]) -> bool:
    """Whether PID runs jlcompose with one of `words` among its arguments (a reused PID does not)."""
    if pid == os.getpid():
        return True
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc here: trust the live PID
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return any("jlcompose" in a for a in args) and bool(words & set(args))


def _is_watcher(pid: int) -> bool:
    """Whether PID runs `jlcompose watch` (or `up --watch`), so a reused PID is never signalled."""
    return runs_jlcompose(pid, {"watch", "--watch"})


def watcher_pid(project: Project) -> int | None:
    """The PID of this project's running watcher, or None."""
    pid = _read_pid(project)
    if pid is None or not _alive(pid) or not _is_watcher(pid):
        return None
    return pid


def _already(pid: int) -> JlcomposeError:
    return JlcomposeError(
        f"a watcher already runs for this project (PID {pid}).",
        hint="stop it with `jlcompose watch --stop`, or leave it running.",
    )


@contextlib.contextmanager
def registered(project: Project) -> Iterator[None]:
    with project.state.lock("watch", timeout=10, what="the watcher's pidfile"):
        other = watcher_pid(project)
        if other is not None and other != os.getpid():
            raise _already(other)
        atomic_write(_pidfile(project), f"{os.getpid()}\n".encode())
    try:
        yield
    finally:
        if _read_pid(project) == os.getpid():
            _pidfile(project).unlink(missing_ok=True)


def detach(project: Project, services: Sequence[str], *, poll: bool, rebuild: bool) -> int:
    """Start `jlcompose watch` as a background process in its own session."""
    project.pick(services)  # unknown names fail here, not in the log
    if (pid := watcher_pid(project)) is not None:
        raise _already(pid)
    project.state.ensure()
    log = project.state.watch_log
    args = ["watch", *services] + ["--poll"] * poll + ["--rebuild"] * rebuild
    child = spawn_logged(project, args, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _read_pid(project) == child.pid:
            console.ok(f"watching in the background (PID {child.pid}); log: {log}")
            console.info("stop it with `jlcompose watch --stop`")
            return int(ExitCode.OK)
        if (rc := child.poll()) is not None:
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
            raise JlcomposeError(f"the background watcher exited at once (exit {rc}).", detail=tail)
        time.sleep(0.05)
    raise JlcomposeError("the background watcher did not start within 20 s.", hint=f"see {log}")


def stop_watcher(project: Project, *, timeout: float = STOP_WAIT_S) -> int:
    """End the background watcher named by the pidfile (SIGTERM), checking it is ours first."""
    pid = _read_pid(project)
    if pid is None:
        console.info("no watcher runs for this project")
        return int(ExitCode.OK)
    if not _alive(pid) or not _is_watcher(pid):
        _pidfile(project).unlink(missing_ok=True)
        console.info(f"removed a stale pidfile (PID {pid} is not a running jlcompose watcher)")
        return int(ExitCode.OK)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        if (child := _spawned.get(pid)) is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(0.1)
        time.sleep(0.05)
    if _alive(pid):
        raise JlcomposeError(
            f"the watcher (PID {pid}) is still finishing an install after {timeout:.0f} s.",
            hint=f"it stops when the install ends; `kill -9 {pid}` ends it at once.",
        )
    if (child := _spawned.pop(pid, None)) is not None:
        child.wait(5)  # reap our own child, which is a zombie until then
    if _read_pid(project) == pid:
        _pidfile(project).unlink(missing_ok=True)
    console.ok(f"stopped the watcher (PID {pid})")
    return int(ExitCode.OK)
