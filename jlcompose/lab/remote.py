"""A lab on a remote Docker engine: the override, the first sync, and the link once it runs.

The daemon is on another machine, so the project folder cannot be bind-mounted: a per-project
volume holds it there (core/remotefile.py), filled by one sync round before the lab starts and
kept in step afterwards by the link (lab/link.py), which also forwards each lab's port over the
engine's own SSH transport to the laptop's loopback, where the printed URL points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from jlcompose import console
from jlcompose.core import remotefile
from jlcompose.core.composemodel import LAB_PORT, ComposeModel
from jlcompose.engine.api import ContainerInfo, Endpoint, Engine, Stack
from jlcompose.errors import StartFailed
from jlcompose.files import atomic_write
from jlcompose.lab import link, sync
from jlcompose.lab.targets import Target
from jlcompose.project import Project
from jlcompose.state import State

_announced: set[str] = set()


def announce(endpoint: Endpoint) -> None:
    """The one line that says a command talks to a remote engine (once per process)."""
    if endpoint.remote and endpoint.url not in _announced:
        _announced.add(endpoint.url)
        port = "its port forwarded here over SSH" if endpoint.kind == "ssh" else "its port published there"
        console.info(
            f"remote Docker engine {endpoint.shown}: the project is synced to a volume there, {port}"
        )


def workspace_volume(model_name: str) -> str:
    return f"{model_name}_{remotefile.VOLUME}"


def prepare(project: Project, engine: Engine, model: ComposeModel) -> Path | None:
    """On a remote engine: announce it and write `.jlcompose/remote.yaml`; None on a local one."""
    endpoint = engine.endpoint()
    if not endpoint.remote:
        return None
    announce(endpoint)
    made = remotefile.override(model, str(project.root), forward=endpoint.kind == "ssh")
    for service, source in made.stray_binds:
        console.warn(
            f"{service} bind-mounts {project.relative(Path(source))}, which the remote engine resolves on "
            "its own machine; the synced project is at /workspace"
        )
    path = project.state.remote_override
    project.state.ensure()
    if not path.is_file() or path.read_text(encoding="utf-8") != made.text:
        atomic_write(path, made.text.encode())
    return path


def addressed(endpoint: Endpoint, targets: Mapping[str, Target]) -> dict[str, Target]:
    """Over TCP there is no SSH to forward through: the URL names the server itself."""
    if endpoint.kind != "tcp":
        return dict(targets)
    out = {}
    for name, t in targets.items():
        if t.address is not None and t.address.bind in ("127.0.0.1", "localhost", "::1"):
            console.warn(
                f"{name} listens on the server's loopback only; set JLC_BIND=0.0.0.0 in .env (trusted "
                "networks only) or use an ssh:// engine, which forwards the port to this machine"
            )
        out[name] = replace(t, address=replace(t.address, host=endpoint.host)) if t.address else t
    return out


def sync_before_start(project: Project, engine: Engine, stack: Stack, service: str) -> None:
    """Fill (or bring up to date) the workspace volume before the lab starts on it."""
    moved = sync.once(project, engine, stack, service)
    if moved.count:
        console.ok(f"synced the project with the lab's volume: {moved.describe()}")


def connect(
    project: Project, engine: Engine, targets: Mapping[str, Target], after: Mapping[str, ContainerInfo]
) -> None:
    """Record where each lab listens on the server, then (re)start the link so its forwards match."""
    ports: dict[str, int] = {}
    for name, target in targets.items():
        container = after.get(name)
        port = container.host_port(LAB_PORT) if container is not None else None
        if target.address is not None and engine.endpoint().kind == "ssh":
            if port is None:
                raise StartFailed(f"the {name} lab publishes no port on the remote engine.")
            ports[name] = port

    def record(state: State) -> None:
        for name, port in ports.items():
            address = targets[name].address
            assert address is not None
            entry = state.service(name)
            entry.address = (address.host, address.bind, address.port)
            entry.remote_port = port

    project.state.update(record)
    wanted = {(f.service, f.bind, f.port, f.remote_port) for f in link.forwards(project)}
    running = link.status(project)
    have = {tuple(f) for f in (running or {}).get("forwards", [])}
    if running is not None and running.get("state") == "ready" and have == wanted:
        return
    if running is not None:
        stop_link(project)
    pid = start_link(project)
    console.ok(f"remote link running (PID {pid}): port forwards and sync; log: {project.state.link_log}")


def start_link(project: Project) -> int:
    """Start the background link (tests replace this to run it in a thread)."""
    return link.spawn(project)


def stop_link(project: Project) -> bool:
    """Stop the link after its last round (tests replace this, with start_link)."""
    return link.stop(project)
