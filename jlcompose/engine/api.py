"""What jlcompose needs from Docker and Compose: the `Engine` Protocol and the values it trades."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from jlcompose.core.endpoint import Endpoint

__all__ = ["Endpoint"]  # the engine's address: a value of core/, traded here too

LineSink = Callable[[str], None]
# `!reset` in compose.cpu.yaml needs Compose 2.24.4; everything else we use is older.
MIN_COMPOSE = (2, 24, 4)
SECRET_VARIABLES = frozenset({"JUPYTER_TOKEN"})  # never shown in -v logs


@dataclass(frozen=True)
class Stack:
    """One Compose project: its files, env files, variables and name. Every compose call takes one.

    The variables reach Compose through the environment of that one call (never through
    os.environ), where they beat `.env` the way a shell's variables would.
    """

    project_name: str
    files: tuple[Path, ...]
    env_files: tuple[Path, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    profiles: tuple[str, ...] = ()  # Compose profiles to activate (a service under `profiles:`)

    @property
    def directory(self) -> Path:
        """Compose's project directory: the folder of the first file, as plain Compose has it."""
        return self.files[0].parent

    @property
    def env(self) -> dict[str, str]:
        return dict(self.variables)

    def with_files(self, extra: Sequence[Path]) -> Stack:
        return replace(self, files=(*self.files, *extra))

    def shown_variables(self) -> str:
        """The variables as -v prints them: secrets masked."""
        return " ".join(f"{k}={'***' if k in SECRET_VARIABLES else v}" for k, v in self.variables)


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    compose_version: str
    engine_id: str
    runtimes: tuple[str, ...] = ()
    docker_root_dir: str = ""  # where images live (doctor's disk check)

    @property
    def key(self) -> str:
        """Names this engine as it is now: restarted with another runtime, it is another one."""
        return "|".join((self.engine_id, self.server_version, *sorted(self.runtimes)))


@dataclass(frozen=True)
class ImageInfo:
    ref: str  # the reference asked for, or one repo:tag of a listed image
    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteImage:
    """What a registry says about an image without pulling it: its layers and its config's ENV."""

    ref: str
    registry: str
    layers: tuple[tuple[str, int], ...]  # (digest, compressed bytes), as the pull fetches them
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(size for _digest, size in self.layers)


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str
    project: str
    state: str  # running, exited, created, ...
    health: str | None  # healthy, starting, unhealthy, or None without a healthcheck
    image: str  # the image reference the container was created from
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    gpu: bool = False  # created with a GPU device request
    gpus: str = ""  # which: "all", a count ("2") or device IDs ("0,1"); "" without a request
    published: tuple[tuple[int, str, int], ...] = ()  # (container port, host address, host port)

    @property
    def running(self) -> bool:
        return self.state == "running"

    def host_port(self, container_port: int) -> int | None:
        """The engine host's port that publishes this container port (a remote engine picks it)."""
        return next((p for c, _ip, p in self.published if c == container_port), None)


class Channel(Protocol):
    """A process in a lab (or a one-off container of it) with its stdin and stdout as a pipe."""

    def send(self, data: bytes) -> None:
        """Write to its stdin; raises EngineError when it is gone."""
        ...

    def receive(self) -> bytes:
        """One line from its stdout, newline included; b"" once it ended."""
        ...

    def close(self) -> int:
        """End it (stdin closed, then stopped); its exit status."""
        ...

    def reason(self) -> str:
        """The tail of its error output: why it ended, if it did."""
        ...


class Tunnel(Protocol):
    """A local port forwarded to a port on the engine's host over the engine's own SSH transport."""

    pid: int | None

    def alive(self) -> bool: ...

    def close(self) -> None: ...

    def reason(self) -> str:
        """Why it ended (ssh's own words), once it did."""
        ...


class Engine(Protocol):
    """Docker and Compose as jlcompose uses them. Tests use tests/fakes.py:FakeEngine.

    Every failure leaves an Engine as a JlcomposeError subclass (errors.py); streamed calls
    feed each output line to a callback and return the exit code.
    """

    def info(self) -> EngineInfo:
        """Engine and Compose versions; DockerMissing, DaemonDown, ComposeMissing, ComposeTooOld."""
        ...

    def config(self, stack: Stack) -> dict[str, Any]:
        """`docker compose config --format json`; ConfigError when Compose refuses the files."""
        ...

    def image(self, ref: str) -> ImageInfo | None:
        """A local image, or None when there is none by that reference."""
        ...

    def images(self, repository: str) -> list[ImageInfo]:
        """Every local image of a repository, one entry per tag."""
        ...

    def remove_image(self, ref: str) -> None: ...

    def remote_image(self, ref: str) -> RemoteImage:
        """Ask the image's registry (manifest and config, no layers); raises RegistryError.

        Credentials come from `docker login` (config.json `auths`), as the daemon's pull gets them.
        """
        ...

    def pull(self, ref: str, service: str, on_line: LineSink) -> None:
        """`docker pull ref`, each status line to on_line; raises ImageMissing naming service's variable."""
        ...

    def build(self, stack: Stack, service: str, build_args: Mapping[str, str], on_line: LineSink) -> None:
        """Build one service, feeding each BuildKit output line to on_line; raises BuildFailed."""
        ...

    def up(self, stack: Stack, services: Sequence[str]) -> None:
        """`up -d --no-build` the services; raises StartFailed (GpuUnavailable, PortTaken)."""
        ...

    def down(self, stack: Stack, services: Sequence[str] | None, *, volumes: bool = False) -> None:
        """Stop and remove the services' containers (all of the project's when None).

        `volumes` (only with None): the project's named volumes go too (caches, uv's cache).
        """
        ...

    def containers(self, stack: Stack, services: Sequence[str] | None = None) -> list[ContainerInfo]:
        """Containers of this project (running or not), optionally of some services only."""
        ...

    def containers_named(self, name: str) -> list[ContainerInfo]:
        """Containers with exactly this name, whoever made them."""
        ...

    def containers_publishing(self, port: int) -> list[ContainerInfo]:
        """Running containers that publish this host port (who holds it, for the messages)."""
        ...

    def remove_container(self, container_id: str) -> None: ...

    def exec(
        self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None, on_line: LineSink
    ) -> int:
        """Run argv in the service's running container; each output line to on_line; its exit code.

        Raises LabNotRunning when the service has no running container.
        """
        ...

    def logs(self, stack: Stack, service: str, *, follow: bool, tail: int | None, on_line: LineSink) -> None:
        """The service's log lines, to on_line; with follow, until the container stops or Ctrl-C."""
        ...

    def gpu_probe(self, image: str) -> bool:
        """True when a throwaway container of `image` can get the NVIDIA device driver."""
        ...

    def endpoint(self) -> Endpoint:
        """Which engine this is (DOCKER_HOST, or the Docker context's endpoint); no daemon call."""
        ...

    def attach(self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None) -> Channel:
        """argv in the service's running container with stdin and stdout piped (`exec -i`).

        Raises LabNotRunning when the service has no running container.
        """
        ...

    def run_attached(self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None) -> Channel:
        """argv in a one-off container of the service (its image and volumes, no ports), piped."""
        ...

    def forward(self, bind: str, port: int, remote_port: int) -> Tunnel:
        """Forward bind:port here to the engine host's 127.0.0.1:remote_port over SSH (ssh:// only)."""
        ...
