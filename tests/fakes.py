"""FakeEngine: the Engine Protocol in memory. Records calls, holds images and containers, fails on request.

Like the real engine it reads everything about the Compose project (name, files, tag
variables) from the Stack each call brings, so a command that hands over the wrong Stack
builds or starts the wrong thing here too.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jlcompose.core.composemodel import LAB_PORT, service_variable
from jlcompose.core.endpoint import Endpoint, parse_host
from jlcompose.engine.api import (
    Channel,
    ContainerInfo,
    EngineInfo,
    ImageInfo,
    LineSink,
    RemoteImage,
    Stack,
    Tunnel,
)
from jlcompose.errors import BuildFailed, EngineError, ImageMissing, LabNotRunning, RegistryError, StartFailed
from jlcompose.inlab import sync as sync_server

ExecHandler = Callable[[str, Sequence[str], "str | None"], tuple[int, list[str]]]
WORKSPACE = "/workspace"


class FakeChannel:
    """The lab's real sync server (inlab/sync.py), run in a thread on a folder standing in for a volume."""

    def __init__(self, volume: Path, argv: Sequence[str]) -> None:
        assert list(argv[-3:]) == ["-m", "jlcompose.inlab.sync", WORKSPACE], argv
        to_server, self._to = os.pipe()
        self._from, to_client = os.pipe()
        self._writer = os.fdopen(self._to, "wb")
        self._reader = os.fdopen(self._from, "rb")
        server_in, server_out = os.fdopen(to_server, "rb"), os.fdopen(to_client, "wb")

        def serve() -> None:
            with server_in, server_out:
                sync_server.serve(volume, server_in.readline, server_out)

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def send(self, data: bytes) -> None:
        self._writer.write(data)
        self._writer.flush()

    def receive(self) -> bytes:
        return self._reader.readline()

    def close(self) -> int:
        self._writer.close()
        self._thread.join(5)
        self._reader.close()
        return 0

    def reason(self) -> str:
        return ""


@dataclass
class FakeTunnel:
    bind: str
    port: int
    remote_port: int
    pid: int | None = None
    open: bool = True

    def alive(self) -> bool:
        return self.open

    def close(self) -> None:
        self.open = False

    def reason(self) -> str:
        return "closed"


@dataclass
class FakeEngine:
    project: str = "demo"
    compose_config: dict[str, Any] = field(default_factory=dict)
    image_store: dict[str, dict[str, str]] = field(default_factory=dict)  # ref -> labels
    image_envs: dict[str, dict[str, str]] = field(default_factory=dict)
    running: dict[str, ContainerInfo] = field(default_factory=dict)  # service -> container
    published: dict[int, ContainerInfo] = field(default_factory=dict)  # host port -> someone else's
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)  # every Stack a call brought, in order
    fail_build: bool = False
    fail_up: StartFailed | None = None
    fail_info: EngineError | None = None
    fail_all: EngineError | None = None  # raised by every call (a daemon that went away)
    gpu: bool = False
    exec_handler: ExecHandler | None = None
    build_lines: list[str] = field(default_factory=lambda: ["#1 [lab 1/2] FROM base", "#1 DONE 0.1s"])
    # what registries say (an image, or the RegistryError asking raises); unknown refs raise "unknown"
    remote: dict[str, RemoteImage | RegistryError] = field(default_factory=dict)
    fail_pull: dict[str, ImageMissing] = field(default_factory=dict)
    pull_lines: dict[str, list[str]] = field(default_factory=dict)  # else made from `remote`'s layers
    host: str = "unix:///var/run/docker.sock"  # DOCKER_HOST as the engine sees it
    volume_root: Path | None = None  # where the project's named volumes live (remote engines)
    tunnels: list[FakeTunnel] = field(default_factory=list)

    # -- helpers --------------------------------------------------------------------------
    def _seen(self, stack: Stack | None = None) -> None:
        if self.fail_all is not None:
            raise self.fail_all
        if stack is not None:
            self.stacks.append(stack)
            assert stack.project_name == self.project, (stack.project_name, self.project)

    def _ref(self, stack: Stack, service: str) -> str:
        repo = self.compose_config["services"][service]["image"].rpartition(":")[0]
        return f"{repo}:{stack.env.get(service_variable(service, 'TAG'), 'latest')}"

    @property
    def last_stack(self) -> Stack:
        return self.stacks[-1]

    def start(self, *services: str, tag: str = "x") -> FakeEngine:
        """Pretend these services' labs are already running (made by an earlier `up`)."""
        for s in services or ("torch",):
            self.running[s] = ContainerInfo(
                id=f"c-{s}",
                name=f"{self.project}-{s}-1",
                service=s,
                project=self.project,
                state="running",
                health="healthy",
                image=f"jlcompose/{self.project}-{s}:{tag}",
            )
        return self

    # -- Engine ---------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        self._seen()
        self.calls.append(("info",))
        if self.fail_info:
            raise self.fail_info
        return EngineInfo(server_version="27.0.0", compose_version="2.40.3", engine_id="fake-id")

    def config(self, stack: Stack) -> dict[str, Any]:
        """The fixed config, with JLC_<SVC>_PORT applied as Compose would interpolate it."""
        self._seen(stack)
        self.calls.append(("config",))
        config = copy.deepcopy(self.compose_config)
        for name, svc in config.get("services", {}).items():
            port = stack.env.get(service_variable(name, "PORT"))
            if port is not None and svc.get("ports"):
                svc["ports"][0]["published"] = port
        return config

    def image(self, ref: str) -> ImageInfo | None:
        self._seen()
        if ref in self.image_store or ref in self.image_envs:
            digest = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
            return ImageInfo(
                ref, digest, dict(self.image_store.get(ref, {})), dict(self.image_envs.get(ref, {}))
            )
        return None

    def images(self, repository: str) -> list[ImageInfo]:
        self._seen()
        found = [r for r in self.image_store if r.rsplit(":", 1)[0] == repository]
        return [i for i in (self.image(r) for r in found) if i is not None]

    def remove_image(self, ref: str) -> None:
        self._seen()
        self.calls.append(("remove_image", ref))
        self.image_store.pop(ref, None)

    def remote_image(self, ref: str) -> RemoteImage:
        self.calls.append(("remote_image", ref))
        found = self.remote.get(ref)
        if isinstance(found, RegistryError):
            raise found
        if found is None:
            raise RegistryError(f"no image {ref}.", kind="unknown", registry=ref.split("/", maxsplit=1)[0])
        return found

    def pull(self, ref: str, service: str, on_line: LineSink) -> None:
        """Like `docker pull` off a terminal: per-layer status lines; the image exists afterwards."""
        self._seen()
        self.calls.append(("pull", ref, service))
        found = self.remote.get(ref)
        layers = (
            [d.removeprefix("sha256:")[:12] for d, _ in found.layers]
            if isinstance(found, RemoteImage)
            else []
        )
        lines = self.pull_lines.get(ref) or [
            f"{ref.rpartition(':')[2]}: Pulling from {ref.rpartition(':')[0]}",
            *(f"{layer}: Pulling fs layer" for layer in layers),
            *(f"{layer}: Download complete" for layer in layers),
            *(f"{layer}: Pull complete" for layer in layers),
            f"Status: Downloaded newer image for {ref}",
        ]
        for line in lines:
            on_line(line)
        if ref in self.fail_pull:
            raise self.fail_pull[ref]
        self.image_envs[ref] = dict(found.env) if isinstance(found, RemoteImage) else {}

    def build(self, stack: Stack, service: str, build_args: Mapping[str, str], on_line: LineSink) -> None:
        self._seen(stack)
        self.calls.append(("build", service, dict(build_args)))
        for line in self.build_lines:
            on_line(line)
        if self.fail_build:
            raise BuildFailed(f"building the {service} image failed; the running lab was left as it was.")
        quick = any(f.name.startswith("quick-") for f in stack.files)
        self.image_store[self._ref(stack, service)] = {
            "org.jlcompose.hash": build_args.get("JLC_HASH", ""),
            "org.jlcompose.inputs": build_args.get("JLC_INPUTS", ""),
            "org.jlcompose.requirements": build_args.get("JLC_REQUIREMENTS", ""),
            "org.jlcompose.quick-depth": "1" if quick else "0",
        }

    def up(self, stack: Stack, services: Sequence[str]) -> None:
        self._seen(stack)
        self.calls.append(("up", tuple(services)))
        if self.fail_up:
            raise self.fail_up
        cpu = any(f.name == "compose.cpu.yaml" for f in stack.files)
        remote = any(f.name == "remote.yaml" for f in stack.files)
        for s in services:
            ref = self._ref(stack, s)
            old = self.running.get(s)
            if old and old.image == ref and old.running:
                continue
            self.running[s] = ContainerInfo(
                id=f"id-{s}-{len(self.calls)}",
                name=f"{self.project}-{s}-1",
                service=s,
                project=self.project,
                state="running",
                health="healthy",
                image=ref,
                labels=dict(self.image_store.get(ref, {})),
                gpu=self.gpu and not cpu,
                # a remote engine picks the server port (remote.yaml publishes none)
                published=((LAB_PORT, "127.0.0.1", 40000 + len(self.calls)),) if remote else (),
            )

    def down(self, stack: Stack, services: Sequence[str] | None, *, volumes: bool = False) -> None:
        self._seen(stack)
        self.calls.append(("down", tuple(services) if services else None, volumes))
        for s in list(self.running):
            if not services or s in services:
                del self.running[s]

    def containers(self, stack: Stack, services: Sequence[str] | None = None) -> list[ContainerInfo]:
        self._seen(stack)
        return [c for s, c in sorted(self.running.items()) if services is None or s in services]

    def containers_named(self, name: str) -> list[ContainerInfo]:
        self._seen()
        return [c for c in self.running.values() if c.name == name]

    def containers_publishing(self, port: int) -> list[ContainerInfo]:
        self._seen()
        return [self.published[port]] if port in self.published else []

    def remove_container(self, container_id: str) -> None:
        self._seen()
        self.calls.append(("remove_container", container_id))
        for s, c in list(self.running.items()):
            if c.id == container_id:
                del self.running[s]

    def exec(
        self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None, on_line: LineSink
    ) -> int:
        self._seen(stack)
        if not any(c.running for c in self.containers(stack, [service])):
            raise LabNotRunning(service)
        self.calls.append(("exec", service, tuple(argv), user))
        rc, lines = (0, []) if self.exec_handler is None else self.exec_handler(service, argv, user)
        for line in lines:
            on_line(line)
        return rc

    def logs(self, stack: Stack, service: str, *, follow: bool, tail: int | None, on_line: LineSink) -> None:
        self._seen(stack)
        self.calls.append(("logs", service, follow, tail))
        on_line("[I ServerApp] Jupyter Server is running")

    def gpu_probe(self, image: str) -> bool:
        self._seen()
        self.calls.append(("gpu_probe", image))
        return self.gpu

    def endpoint(self) -> Endpoint:
        return parse_host(self.host)

    def volume(self, name: str = "workspace") -> Path:
        """The project's named volume `name` on this engine (a folder, made on first use)."""
        assert self.volume_root is not None, "set FakeEngine.volume_root for a remote engine"
        path = self.volume_root / f"{self.project}_{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def attach(self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None) -> Channel:
        self._seen(stack)
        if not any(c.running for c in self.containers(stack, [service])):
            raise LabNotRunning(service)
        self.calls.append(("attach", service, user))
        return FakeChannel(self.volume(), argv)

    def run_attached(self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None) -> Channel:
        self._seen(stack)
        assert any(f.name == "remote.yaml" for f in stack.files), "a one-off container without the volume"
        self.calls.append(("run_attached", service, user))
        return FakeChannel(self.volume(), argv)

    def forward(self, bind: str, port: int, remote_port: int) -> Tunnel:
        self._seen()
        self.calls.append(("forward", bind, port, remote_port))
        tunnel = FakeTunnel(bind, port, remote_port)
        self.tunnels.append(tunnel)
        return tunnel

    def stop_lab(self, service: str) -> None:
        """The lab's container exits (a crash, or `docker stop` by hand)."""
        self.running[service] = replace(self.running[service], state="exited")
