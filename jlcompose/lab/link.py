"""The remote link: one background process per project on a remote engine (`jlcompose sync --follow`).

It holds an `ssh -L` port forward per running lab (its local end is the address the printed
URL names) and a sync session with the lab (lab/sync.py), a round every INTERVAL_S. `up`
starts it once the labs run and waits until every forward listens; `down` stops it with
SIGTERM, which ends it after one last round, so what the lab wrote comes home first. It ends
by itself when no lab of the project has run for LINGER_S.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from jlcompose import console
from jlcompose.engine.api import Engine, Tunnel
from jlcompose.errors import EngineError, JlcomposeError, SshFailed, UsageError
from jlcompose.files import atomic_write
from jlcompose.lab import background, sync
from jlcompose.lab.http import port_in_use
from jlcompose.project import Project

INTERVAL_S = 0.5  # between sync rounds: the lab's edits reach the laptop within about this
LINGER_S = 30.0
RETRY_S = 2.0  # a dropped forward or session is tried again after this
START_WAIT_S = 60.0
STOP_WAIT_S = 120.0  # the last round may still be copying a large notebook
WORDS = {"sync"}


@dataclass(frozen=True)
class Forward:
    service: str
    bind: str
    port: int
    remote_port: int


def forwards(project: Project) -> list[Forward]:
    """What `up` recorded: each lab's local address and the server port it forwards to."""
    state = project.state.read()
    out = []
    for name in sorted(state.services):
        entry = state.services[name]
        if entry.address is not None and entry.remote_port is not None:
            out.append(Forward(name, entry.address[1], entry.address[2], entry.remote_port))
    return out


def note(text: str) -> None:
    console.info(f"{time.strftime('%H:%M:%S')} {text}")


def _write_status(project: Project, state: str, wanted: list[Forward], error: str | None = None) -> None:
    data = {
        "pid": os.getpid(),
        "state": state,
        "error": error,
        "forwards": [[f.service, f.bind, f.port, f.remote_port] for f in wanted],
    }
    atomic_write(project.state.link_status, json.dumps(data).encode())


def status(project: Project) -> dict[str, Any] | None:
    """The running link's own report (state, forwards), or None when no link runs."""
    pid = link_pid(project)
    if pid is None:
        return None
    try:
        data = json.loads(project.state.link_status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"pid": pid, "state": "starting", "forwards": []}
    return data if isinstance(data, dict) and data.get("pid") == pid else {"pid": pid, "state": "starting"}


def link_pid(project: Project) -> int | None:
    try:
        pid = int(project.state.link_pid.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if background.alive(pid) and background.runs_jlcompose(pid, WORDS) else None


class _Loop:
    def __init__(self, project: Project, engine: Engine) -> None:
        self.project = project
        self.engine = engine
        self.stack = project.stack(cpu=False)  # names the containers; its files do not matter here
        self.key = sync.base_key(project, engine.endpoint())
        self.wanted = forwards(project) if engine.endpoint().kind == "ssh" else []
        self.tunnels: dict[str, Tunnel] = {}
        self.retry: dict[str, float] = {}
        self.session: sync.Session | None = None
        self.no_lab_since: float | None = None
        self.ready = False

    def tunnels_up(self) -> None:
        for f in self.wanted:
            tunnel = self.tunnels.get(f.service)
            if tunnel is not None and tunnel.alive():
                continue
            if tunnel is not None:
                note(f"the forward of {f.service} ended: {tunnel.reason() or 'no reason given'}")
                self.retry[f.service] = time.monotonic() + RETRY_S
                del self.tunnels[f.service]
                if not self.ready:  # it never worked: say why, rather than retry in silence
                    raise SshFailed(self.engine.endpoint().host, tunnel.reason() or "the forward ended.")
            if time.monotonic() >= self.retry.get(f.service, 0.0):
                self.tunnels[f.service] = self.engine.forward(f.bind, f.port, f.remote_port)
        if not self.ready and all(
            self.tunnels.get(f.service) is not None and port_in_use(f.bind, f.port) for f in self.wanted
        ):
            self.ready = True
            _write_status(self.project, "ready", self.wanted)
            for f in self.wanted:
                note(f"forwarding {f.bind}:{f.port} to port {f.remote_port} of the server ({f.service})")

    def sync_round(self) -> bool:
        """One round; False once no lab has run for LINGER_S."""
        if self.session is None:
            running = [c.service for c in self.engine.containers(self.stack) if c.running]
            labs = [s for s in self.project.services if s in running]
            if not labs:
                self.no_lab_since = self.no_lab_since or time.monotonic()
                return time.monotonic() - self.no_lab_since < LINGER_S
            self.no_lab_since = None
            channel = self.engine.attach(self.stack, labs[0], [*sync.SERVER, sync.WORKSPACE], user="0")
            self.session = sync.Session(self.project, channel, self.key)
            note(f"syncing with the {labs[0]} lab's /workspace")
        try:
            moved = self.session.round()
        except (EngineError, OSError, ValueError) as exc:
            note(f"sync paused: {getattr(exc, 'message', exc)}")
            self.close_session()
            return True
        if moved.count:
            note(moved.describe())
        return True

    def close_session(self) -> None:
        if self.session is not None:
            with contextlib.suppress(JlcomposeError, OSError):
                self.session.close()
            self.session = None

    def close(self) -> None:
        self.close_session()
        for tunnel in self.tunnels.values():
            tunnel.close()


def follow(project: Project, engine: Engine, *, stop: threading.Event, interval: float = INTERVAL_S) -> int:
    """Forward and sync until `stop` (then one last round) or until no lab runs."""
    if not engine.endpoint().remote:
        raise UsageError(
            "this Docker engine is local: the lab sees the project folder itself, nothing to sync.",
        )
    project.state.ensure()
    atomic_write(project.state.link_pid, f"{os.getpid()}\n".encode())
    loop = _Loop(project, engine)
    _write_status(project, "starting", loop.wanted)
    try:
        while True:
            loop.tunnels_up()
            last = stop.is_set()
            if not loop.sync_round() and not last:
                note("no lab of this project runs: the link ends")
                break
            if last:
                break
            stop.wait(interval)
    except JlcomposeError as exc:
        _write_status(project, "failed", loop.wanted, exc.message)
        raise
    finally:
        loop.close()
        with contextlib.suppress(OSError):
            if project.state.link_pid.read_text(encoding="utf-8").split()[0] == str(os.getpid()):
                project.state.link_pid.unlink()
    return 0


def spawn(project: Project) -> int:
    """Start the link in the background and wait until its forwards listen; its PID."""
    project.state.ensure()
    with contextlib.suppress(OSError):
        project.state.link_status.unlink()
    log = project.state.link_log
    child = background.spawn_logged(project, ["sync", "--follow"], log)
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        report = _report(project)
        if report.get("pid") == child.pid and report.get("state") == "ready":
            return child.pid
        if (report.get("pid") == child.pid and report.get("state") == "failed") or child.poll() is not None:
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-8:])
            raise EngineError(
                f"the link to the remote lab did not start: {report.get('error') or 'it exited'}",
                hint=f"see {log}",
                detail=tail,
            )
        time.sleep(0.1)
    raise EngineError(
        f"the link to the remote lab did not start within {START_WAIT_S:.0f} s.", hint=f"see {log}"
    )


def _report(project: Project) -> dict[str, Any]:
    try:
        data = json.loads(project.state.link_status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stop(project: Project, *, timeout: float = STOP_WAIT_S) -> bool:
    """End the running link (after its last round); False when none ran."""
    pid = link_pid(project)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while background.alive(pid) and time.monotonic() < deadline:
        background.reap(pid)
        time.sleep(0.05)
    if background.alive(pid):
        raise JlcomposeError(
            f"the remote link (PID {pid}) is still finishing its last sync after {timeout:.0f} s.",
            hint=f"it stops once the copy ends; `kill {pid}` ends it at once.",
        )
    background.reap(pid)
    return True
