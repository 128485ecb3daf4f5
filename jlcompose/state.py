"""The one owner of a project's `.jlcompose/` folder: typed state, the token, locks and paths.

state.json carries a schema number. jlcompose 0.1 wrote the same fields without one (read as
schema 1); a file from a newer jlcompose is refused with one sentence rather than misread.
Every write is atomic (files.atomic_write) and happens under the state lock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jlcompose.errors import StateError
from jlcompose.files import atomic_write, ensure_dir, locked

SCHEMA = 1
TOKEN_MIN = 32  # hex characters; a shorter token file is replaced


@dataclass
class ServiceState:
    """What the last `up` (and hot installs since) left for one service."""

    mode: str | None = None  # "gpu" or "cpu": how the lab was started
    container: str | None = None  # the container ID that `up` made
    config_digest: str | None = None  # what Compose was asked to create (lab/start.py)
    fast_key: str | None = None  # every input of `up`, hashed from files (lab/fastpath.py)
    tag: str | None = None  # the image tag the lab runs
    address: tuple[str, str, int] | None = None  # (host, bind, port) the lab answers on
    port: int | None = None  # a host port jlcompose chose because the default one was taken
    hot_installed: list[str] = field(default_factory=list)  # installed live, not yet in the image
    removed: list[str] = field(default_factory=list)  # names dropped from the file, still installed
    applied: str | None = None  # the requirements text the running lab answers to
    remote_port: int | None = None  # on a remote engine: the server's port `address` forwards to

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceState:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        def names(key: str) -> list[str]:
            value = data.get(key)
            return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

        where = data.get("address")
        address = None
        if isinstance(where, list | tuple) and len(where) == 3 and str(where[2]).isdigit():
            address = (str(where[0]), str(where[1]), int(where[2]))
        return cls(
            mode=text("mode"),
            container=text("container"),
            config_digest=text("config_digest"),
            fast_key=text("fast_key"),
            tag=text("tag"),
            address=address,
            port=data["port"] if isinstance(data.get("port"), int) else None,
            hot_installed=names("hot_installed"),
            removed=names("removed"),
            applied=text("applied"),
            remote_port=data["remote_port"] if isinstance(data.get("remote_port"), int) else None,
        )


@dataclass
class State:
    gpu_support: dict[str, bool] = field(default_factory=dict)  # engine key -> NVIDIA runtime?
    services: dict[str, ServiceState] = field(default_factory=dict)

    def service(self, name: str) -> ServiceState:
        """This service's entry, added when missing (changes persist only inside update())."""
        return self.services.setdefault(name, ServiceState())

    def peek(self, name: str) -> ServiceState:
        """This service's entry, or an empty one; never adds it."""
        return self.services.get(name) or ServiceState()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "gpu_support": dict(self.gpu_support),
            "services": {name: asdict(s) for name, s in sorted(self.services.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: Path) -> State:
        schema = data.get("schema", 1)  # 0.1 wrote no schema number: the same fields as 1
        if not isinstance(schema, int) or schema > SCHEMA:
            raise StateError(
                f"{where} was written by a newer jlcompose (state schema {schema!r}; this one reads "
                f"{SCHEMA}).",
                hint=f"upgrade jlcompose, or delete {where} (it is rebuilt; hot-install records are lost).",
            )
        support = data.get("gpu_support")
        services = data.get("services")
        return cls(
            gpu_support={str(k): bool(v) for k, v in support.items()} if isinstance(support, dict) else {},
            services={
                str(k): ServiceState.from_json(v)
                for k, v in (services.items() if isinstance(services, dict) else ())
                if isinstance(v, dict)
            },
        )


class StateDir:
    """`.jlcompose/` of one project. Nothing here is written before a command needs it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- paths -------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def token_file(self) -> Path:
        return self.path / "token"

    @property
    def watch_pid(self) -> Path:
        return self.path / "watch.pid"

    @property
    def watch_log(self) -> Path:
        return self.path / "watch.log"

    @property
    def link_pid(self) -> Path:
        """The remote link's pidfile (port forwards and sync for a remote engine, lab/link.py)."""
        return self.path / "link.pid"

    @property
    def link_log(self) -> Path:
        return self.path / "link.log"

    @property
    def link_status(self) -> Path:
        return self.path / "link.json"

    @property
    def remote_override(self) -> Path:
        return self.path / "remote.yaml"

    def sync_base(self, key: str) -> Path:
        """What the laptop and one remote volume last agreed on (lab/sync.py)."""
        return self.path / "sync" / f"{key}.json"

    def lock_file(self, name: str) -> Path:
        """up, state, token, watch, requirements-SERVICE: one lock file per kind of change."""
        return self.path / f"{name}.lock"

    def quick_override(self, service: str) -> Path:
        return self.path / f"quick-{service}.yaml"

    # -- the folder --------------------------------------------------------------------
    def ensure(self) -> None:
        ensure_dir(self.path)  # two processes may both find it missing (`up` twice at once)
        ignore = self.path / ".gitignore"
        if not ignore.exists():  # never commit tokens or state by accident
            atomic_write(ignore, b"*\n")

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float = 120.0, what: str = "this project") -> Iterator[None]:
        self.ensure()
        with _readable(self.lock_file(name)), locked(self.lock_file(name), timeout=timeout, what=what):
            yield

    # -- state.json --------------------------------------------------------------------
    def read(self) -> State:
        try:
            with _readable(self.state_file):
                text = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        try:
            data = json.loads(text)
        except ValueError:
            return State()  # derived data: a damaged file costs one probe and one build check
        return State.from_json(data, self.state_file) if isinstance(data, dict) else State()

    def update(self, change: Callable[[State], None]) -> State:
        """Read, change and write back state.json under the state lock; the new state."""
        with self.lock("state"):
            state = self.read()
            change(state)
            with _readable(self.state_file):
                atomic_write(self.state_file, json.dumps(state.to_json(), indent=2).encode())
        return state

    # -- the token ---------------------------------------------------------------------
    def read_token(self) -> str | None:
        """The project's JupyterLab token, or None when none was made yet."""
        try:
            with _readable(self.token_file):
                token = self.token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token if len(token) >= TOKEN_MIN else None

    def token(self) -> str:
        """The token, made (random, mode 0600) the first time."""
        if (token := self.read_token()) is not None:
            return token
        with self.lock("token"):
            if (token := self.read_token()) is None:
                import secrets  # ~10 ms to import: only the first `up` of a project makes a token

                token = secrets.token_hex(24)
                atomic_write(self.token_file, token.encode() + b"\n", mode=0o600)
        return token


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """A permission error on a state file becomes one sentence with the fix (e.g. after sudo)."""
    try:
        yield
    except PermissionError:
        raise StateError(
            f"{path} belongs to another user (made under sudo?), so jlcompose cannot use it.",
            hint=f"give it back: sudo chown -R $(id -u):$(id -g) {path.parent}",
        ) from None
