"""Keeping a remote lab's workspace volume and the project folder in step: one round at a time.

A round asks the lab's sync server (inlab/sync.py) what changed there, scans the folder here,
plans with core/syncplan.py against what both last agreed on (kept per engine and volume in
.jlcompose/sync/), and carries the plan out: every change names the version it expects to
replace, so an edit made on either side during the round is left for the next one. Rounds of
all processes of a project (the link, `jlcompose sync`, `up`, `down`) take one lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from jlcompose.core import syncplan
from jlcompose.engine.api import Channel, Endpoint, Engine, Stack
from jlcompose.errors import EngineError
from jlcompose.files import atomic_write
from jlcompose.inlab.synctree import Tree
from jlcompose.project import Project

LIB = "/opt/jlcompose/lab/lib"
SERVER = ["env", f"PYTHONPATH={LIB}", "PYTHONDONTWRITEBYTECODE=1", "python3", "-m", "jlcompose.inlab.sync"]
WORKSPACE = "/workspace"
LOCK_WAIT_S = 600.0
ONCE_ROUNDS = 20  # rounds `once` waits for files still being written (each SETTLE_S apart)


@dataclass
class Moved:
    """What one round did, by path."""

    up: list[str] = field(default_factory=list)  # laptop -> lab
    down: list[str] = field(default_factory=list)  # lab -> laptop
    deleted_there: list[str] = field(default_factory=list)
    deleted_here: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # the lab's copies kept here
    waiting: list[str] = field(default_factory=list)  # just written on either side: the next round

    @property
    def count(self) -> int:
        return sum(map(len, (self.up, self.down, self.deleted_there, self.deleted_here, self.conflicts)))

    def describe(self) -> str:
        parts = [
            (self.up, "to the lab"),
            (self.down, "from the lab"),
            (self.deleted_there, "deleted in the lab"),
            (self.deleted_here, "deleted here"),
            (self.conflicts, "conflict copies kept here"),
        ]
        said = [f"{len(paths)} {what} ({_names(paths)})" for paths, what in parts if paths]
        return "; ".join(said) or "nothing changed"


def _names(paths: list[str]) -> str:
    return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def base_key(project: Project, endpoint: Endpoint) -> str:
    """Which agreement file: one per engine and Compose project (their volume)."""
    name = project.compose_project_name()
    return hashlib.sha256(f"{endpoint.url}\0{name}".encode()).hexdigest()[:16]


def open_server(engine: Engine, stack: Stack, service: str) -> Channel:
    """The sync server in the running lab, else in a one-off container of it (before a start)."""
    running = any(c.running for c in engine.containers(stack, [service]))
    opener = engine.attach if running else engine.run_attached
    return opener(stack, service, [*SERVER, WORKSPACE], user="0")


class Session:
    """One sync server and the project folder; `round()` until done, then `close()`."""

    def __init__(self, project: Project, channel: Channel, key: str) -> None:
        self.project = project
        self.channel = channel
        self.path = project.state.sync_base(key)
        self.tree = Tree(project.root, project.config.sync_exclude)
        self.remote: dict[str, str] = {}
        hello = self._ask({"op": "hello", "patterns": list(project.config.sync_exclude)})
        if hello.get("ok") != 1:
            raise EngineError(
                "the lab's sync server speaks another protocol.",
                hint="rebuild the lab with this jlcompose: jlcompose up --rebuild",
            )
        self.volume = str(hello.get("volume", ""))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.channel.send(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        raw = self.channel.receive()
        if not raw:
            raise EngineError(
                "the lab's sync server stopped answering.",
                hint="the lab may have stopped; `jlcompose up` starts it and the sync again.",
                detail=self.channel.reason() or None,
            )
        answer = json.loads(raw)
        if not isinstance(answer, dict) or "error" in answer:
            raise EngineError(f"the lab's sync server failed: {answer.get('error', answer)}.")
        return answer

    def _base(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("volume") != self.volume:
            return {}  # another (or a new) volume: nothing is agreed, so nothing gets deleted
        files = data.get("files")
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}

    def _save(self, base: dict[str, str]) -> None:
        text = json.dumps({"volume": self.volume, "files": dict(sorted(base.items()))}, indent=0)
        atomic_write(self.path, text.encode())

    def round(self) -> Moved:
        with self.project.state.lock("sync", timeout=LOCK_WAIT_S, what="this project's sync"):
            return self._round()

    def _round(self) -> Moved:
        scan = self._ask({"op": "scan"})
        self.remote.update({str(k): str(v) for k, v in scan.get("changed", {}).items()})
        for gone in scan.get("gone", []):
            self.remote.pop(str(gone), None)
        local = self.tree.scan()
        base = self._base()
        before = dict(base)
        plan = syncplan.plan(local, self.remote, base, unknown={*scan.get("unknown", []), *self.tree.unknown})
        for path, ver in plan.agreed.items():
            _set(base, path, ver)
        moved = Moved(waiting=sorted({*scan.get("recent", []), *self.tree.recent}))
        for path in plan.push:
            if self._push(path, local[path]):
                base[path] = local[path]
                moved.up.append(path)
        for path in plan.pull:
            if (ver := self._pull(path, path, expect=local.get(path))) is not None:
                base[path] = ver
                moved.down.append(path)
        for path in plan.delete_remote:
            if self._ask({"op": "rm", "path": path, "expect": self.remote.get(path)}).get("ok"):
                self.remote.pop(path, None)
                base.pop(path, None)
                moved.deleted_there.append(path)
        for path in plan.delete_local:
            if self.tree.remove(path, expect=local[path]) is None:
                base.pop(path, None)
                moved.deleted_here.append(path)
        for path in plan.conflicts:
            copy = syncplan.conflict_name(path, time.strftime("%Y%m%d-%H%M%S"))
            if self._pull(path, copy, expect=None) is not None and self._push(path, local[path]):
                base[path] = local[path]
                moved.conflicts.append(copy)
        if base != before:
            self._save(base)
        return moved

    def _push(self, path: str, ver: str) -> bool:
        found = self.tree.read(path)
        if found is None or found[1] != ver:
            return False  # changed again since the scan: the next round takes it
        data = base64.b64encode(found[0]).decode()
        request = {"op": "put", "path": path, "data": data, "version": ver, "expect": self.remote.get(path)}
        answer = self._ask(request)
        if answer.get("ok"):
            self.remote[path] = ver
            return True
        return False

    def _pull(self, path: str, to: str, *, expect: str | None) -> str | None:
        answer = self._ask({"op": "get", "path": path})
        if answer.get("missing"):
            self.remote.pop(path, None)
            return None
        ver = str(answer["version"])
        self.remote[path] = ver
        data = base64.b64decode(str(answer["data"]))
        return ver if self.tree.write(to, data, ver, expect=expect) is None else None

    def close(self) -> None:
        self.channel.close()


def _set(base: dict[str, str], path: str, ver: str | None) -> None:
    if ver is None:
        base.pop(path, None)
    else:
        base[path] = ver


def once(project: Project, engine: Engine, stack: Stack, service: str) -> Moved:
    """A sync with a session of its own (the lab's, or a one-off container's), up to date when it
    returns: files written just now on either side are taken by rounds after a short wait."""
    session = Session(project, open_server(engine, stack, service), base_key(project, engine.endpoint()))
    try:
        moved = session.round()
        for _ in range(ONCE_ROUNDS):
            if not moved.waiting:
                break
            time.sleep(syncplan.SETTLE_S)
            more = session.round()
            for name in ("up", "down", "deleted_there", "deleted_here", "conflicts"):
                getattr(moved, name).extend(getattr(more, name))
            moved.waiting = more.waiting
        return moved
    finally:
        session.close()
