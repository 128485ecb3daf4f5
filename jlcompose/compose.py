"""The Docker/Compose boundary: an `Engine` Protocol and its python-on-whales implementation.

This is the only module that imports python_on_whales (lazily, so `--help` stays fast).
Every failure leaves here as a JlcomposeError subclass with one actionable sentence.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jlcompose.errors import (
    BuildFailed,
    ComposeFailed,
    ConfigError,
    EngineError,
    JlcomposeError,
    StartFailed,
)

log = logging.getLogger("jlcompose.compose")

# `!reset` in compose.cpu.yaml needs 2.24.4; everything else we use is older.
MIN_COMPOSE = (2, 24, 4)
GPU_DRIVER_ERROR = re.compile(r"could not select device driver .* with capabilities: \[\[gpu\]\]")


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    compose_version: str
    engine_id: str
    runtimes: tuple[str, ...] = ()
    docker_root_dir: str = ""  # where images live (doctor's disk check)


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

    @property
    def running(self) -> bool:
        return self.state == "running"


class Engine(Protocol):
    """What jlcompose needs from Docker and Compose. Tests use tests/fakes.py:FakeEngine."""

    def info(self) -> EngineInfo:
        """Engine and Compose versions; raises EngineError for each way they can be missing."""
        ...

    def config(self) -> dict[str, Any]:
        """`docker compose config --format json` for the current files and variables."""
        ...

    def image_labels(self, ref: str) -> dict[str, str] | None:
        """Labels of a local image, or None when no such image exists."""
        ...

    def image_env(self, ref: str) -> dict[str, str] | None:
        """Config.Env of a local image, or None when no such image exists."""
        ...

    def image_id(self, ref: str) -> str | None:
        """The ID of a local image, or None when no such image exists."""
        ...

    def images(self, repository: str) -> list[tuple[str, dict[str, str]]]:
        """(tag reference, labels) of every local image of a repository."""
        ...

    def remove_image(self, ref: str) -> None: ...

    def build(self, service: str, build_args: Mapping[str, str], on_line: Callable[[str], None]) -> None:
        """Build one service, feeding each BuildKit output line to on_line; raises BuildFailed."""
        ...

    def up(self, services: Sequence[str]) -> None:
        """`up -d --no-build` the services; raises StartFailed."""
        ...

    def down(self, services: Sequence[str] | None) -> None: ...

    def stop(self, services: Sequence[str]) -> None: ...

    def containers(self, services: Sequence[str] | None = None) -> list[ContainerInfo]:
        """Containers of this project (running or not), optionally of some services only."""
        ...

    def containers_named(self, name: str) -> list[ContainerInfo]:
        """Containers with exactly this name, whoever made them."""
        ...

    def remove_container(self, container_id: str) -> None: ...

    def exec_stream(
        self, service: str, argv: Sequence[str], *, user: str | None = None
    ) -> Generator[str, None, int]:
        """Run argv in the service's running container, yielding output lines as they come.

        The generator's return value (StopIteration.value) is the exit code.
        """
        ...

    def logs(self, service: str, *, follow: bool, tail: int | None) -> Iterator[str]: ...

    def gpu_probe(self, image: str) -> bool:
        """True when a throwaway container of `image` can get the NVIDIA device driver."""
        ...


def _raise_if_engine_gone(text: str) -> None:
    """The daemon is down or out of reach: that, not the step that noticed it, is the news."""
    if "Cannot connect to the Docker daemon" in text or "error during connect" in text:
        raise EngineError(
            "the Docker daemon is not running (or this user may not reach it).",
            hint="start Docker (e.g. `sudo systemctl start docker`) and try again.",
        )
    if "permission denied" in text and "docker.sock" in text:
        raise EngineError(
            "this user may not talk to the Docker daemon (permission denied on its socket).",
            hint="add yourself to the `docker` group and log in again.",
        )


def _parse_version(text: str) -> tuple[int, ...]:
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else ()


def _tail(text: str | None, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


class PowEngine:
    """Engine over python-on-whales. One DockerClient, built for one set of compose files."""

    def __init__(
        self,
        project_dir: Path,
        compose_files: Sequence[Path],
        env_files: Sequence[Path] = (),
        variables: Mapping[str, str] | None = None,
        project_name: str | None = None,
    ) -> None:
        from python_on_whales import DockerClient

        # python-on-whales has no per-call environment: its subprocesses copy os.environ.
        # Our variables (image tags, token, UID) go there, where they also beat .env as
        # the shell's would.
        if variables:
            os.environ.update(variables)
        self.project_dir = project_dir
        self._docker = DockerClient(
            compose_files=[str(f) for f in compose_files],
            compose_env_files=[str(f) for f in env_files],
            compose_project_directory=str(compose_files[0].parent),
        )
        self._project = project_name  # known from an earlier `config`: saves a Compose call
        # containers() is asked several times per command (running? then exec); the answer
        # stays good until this engine changes something
        self._listing: list[ContainerInfo] | None = None

    # -- helpers ------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from python_on_whales.client_config import ClientNotFoundError
        from python_on_whales.exceptions import DockerException

        try:
            return fn()
        except ClientNotFoundError:
            raise EngineError(
                "the `docker` command was not found on PATH.",
                hint="install Docker Engine (docs: https://docs.docker.com/engine/install/).",
            ) from None
        except DockerException as exc:
            stderr = exc.stderr or ""
            _raise_if_engine_gone(stderr)
            raise ComposeFailed(
                f"{what} failed (exit {exc.return_code}).",
                cmd=[str(c) for c in exc.docker_command],
                returncode=exc.return_code,
                stderr_tail=_tail(stderr),
            ) from None

    @property
    def project(self) -> str:
        if self._project is None:
            self._project = str(self.config().get("name", ""))
        return self._project

    # -- Engine -------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        if shutil.which("docker") is None:
            raise EngineError(
                "the `docker` command was not found on PATH.",
                hint="install Docker Engine (docs: https://docs.docker.com/engine/install/).",
            )
        sysinfo = self._call("docker info", self._docker.system.info)
        if not sysinfo.server_version:
            raise EngineError(
                "the Docker daemon is not running (or this user may not reach it).",
                hint="start Docker (e.g. `sudo systemctl start docker`) and try again.",
            )
        # `docker info` lists the CLI's plugins: no second process just to ask Compose
        plugins = (sysinfo.client_info.plugins or []) if sysinfo.client_info else []
        compose = next((p for p in plugins if p.name == "compose"), None)
        if compose is None or not compose.version:
            raise EngineError(
                "Docker Compose v2 (`docker compose`) is not installed.",
                hint="install the docker-compose-plugin package (Compose "
                f"{'.'.join(map(str, MIN_COMPOSE))} or newer).",
            )
        raw = str(compose.version)
        version = _parse_version(raw)
        if not version or version < MIN_COMPOSE:
            raise EngineError(
                f"Docker Compose {raw} is too old; jlcompose needs "
                f"{'.'.join(map(str, MIN_COMPOSE))} or newer.",
                hint="upgrade the docker-compose-plugin package.",
            )
        return EngineInfo(
            server_version=str(sysinfo.server_version),
            compose_version=".".join(map(str, version)),
            engine_id=str(sysinfo.id or ""),
            runtimes=tuple((sysinfo.runtimes or {}).keys()),
            docker_root_dir=str(sysinfo.docker_root_dir or ""),
        )

    def config(self) -> dict[str, Any]:
        try:
            result = self._call(
                "reading the compose files", lambda: self._docker.compose.config(return_json=True)
            )
        except ComposeFailed as exc:
            # Compose rejects bad .env values and compose-file edits here: a user error
            reason = _compose_reason(exc.stderr_tail)
            raise ConfigError(
                f"Docker Compose refused the configuration: {reason}",
                hint="check the values in .env and your edits to compose/*.yaml.",
                detail=exc.stderr_tail,
            ) from None
        return dict(result)

    def image_labels(self, ref: str) -> dict[str, str] | None:
        from python_on_whales.exceptions import NoSuchImage

        try:
            image = self._docker.image.inspect(ref)
        except NoSuchImage:
            return None
        return dict(image.config.labels or {})

    def image_env(self, ref: str) -> dict[str, str] | None:
        from python_on_whales.exceptions import NoSuchImage

        try:
            image = self._docker.image.inspect(ref)
        except NoSuchImage:
            return None
        env = {}
        for item in image.config.env or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def image_id(self, ref: str) -> str | None:
        from python_on_whales.exceptions import NoSuchImage

        try:
            return str(self._docker.image.inspect(ref).id)
        except NoSuchImage:
            return None

    def images(self, repository: str) -> list[tuple[str, dict[str, str]]]:
        found = self._call("listing images", lambda: self._docker.image.list(repository))
        out = []
        for image in found:
            for tag in image.repo_tags or []:
                if tag.rsplit(":", 1)[0] == repository:
                    out.append((tag, dict(image.config.labels or {})))
        return out

    def remove_image(self, ref: str) -> None:
        self._call(f"removing image {ref}", lambda: self._docker.image.remove(ref, prune=True))

    def build(self, service: str, build_args: Mapping[str, str], on_line: Callable[[str], None]) -> None:
        from python_on_whales.exceptions import DockerException

        # plain progress: one line per BuildKit event, which we turn into a live view
        os.environ.setdefault("BUILDKIT_PROGRESS", "plain")
        lines: list[str] = []
        try:
            for _source, raw in self._docker.compose.build(
                [service], build_args=dict(build_args), stream_logs=True
            ):
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                lines.append(line)
                on_line(line)
        except DockerException as exc:
            text = "\n".join(lines) or (exc.stderr or "")
            _raise_if_engine_gone(text)
            raise BuildFailed(
                f"building the {service} image failed; the running lab (if any) was left as it was.",
                hint="fix the error above (often a package name or version in requirements), "
                "then run `jlcompose up` again.",
                detail=_build_error_tail(text),
            ) from None

    def up(self, services: Sequence[str]) -> None:
        self._listing = None
        from python_on_whales.exceptions import DockerException

        try:
            self._docker.compose.up(list(services), detach=True, no_build=True, quiet=True)
        except DockerException as exc:
            stderr = exc.stderr or ""
            _raise_if_engine_gone(stderr)
            if GPU_DRIVER_ERROR.search(stderr):
                raise StartFailed(
                    "the Docker engine cannot give this container a GPU (no NVIDIA runtime).",
                    hint="install the NVIDIA Container Toolkit, or run with --cpu.",
                    detail=_tail(stderr),
                ) from None
            if "port is already allocated" in stderr or "address already in use" in stderr:
                raise StartFailed(
                    "the lab's host port is already in use by another program.",
                    hint="stop that program, or pick another port in .env (JLC_TORCH_PORT / JLC_TF_PORT).",
                    detail=_tail(stderr),
                ) from None
            raise StartFailed(
                f"starting {', '.join(services)} failed.",
                hint="see the Docker message above; `jlcompose logs` shows the lab's output.",
                detail=_tail(stderr),
            ) from None

    def down(self, services: Sequence[str] | None) -> None:
        self._listing = None
        if services:
            self._call("stopping", lambda: self._docker.compose.rm(list(services), stop=True))
        else:
            self._call("stopping", lambda: self._docker.compose.down(remove_orphans=True, quiet=True))

    def stop(self, services: Sequence[str]) -> None:
        self._listing = None
        self._call("stopping", lambda: self._docker.compose.stop(list(services)))

    def _describe(self, c: Any) -> ContainerInfo:
        # the inspect result `container.list` just fetched: each attribute of a
        # python-on-whales Container would re-run `docker inspect` once its 10 ms cache aged
        data = getattr(c, "_inspect_result", None) or c._get_inspect_result()
        labels = dict(data.config.labels or {})
        env = {}
        for item in data.config.env or []:
            key, _, value = item.partition("=")
            env[key] = value
        health = data.state.health.status if data.state.health else None
        requests = getattr(data.host_config, "device_requests", None) or []
        return ContainerInfo(
            id=str(data.id),
            name=str(data.name).lstrip("/"),
            service=labels.get("com.docker.compose.service", ""),
            project=labels.get("com.docker.compose.project", ""),
            state=str(data.state.status),
            health=str(health) if health else None,
            image=str(data.config.image),
            labels=labels,
            env=env,
            gpu=bool(requests),
        )

    def containers(self, services: Sequence[str] | None = None) -> list[ContainerInfo]:
        if self._listing is None:
            filters: dict[str, Any] = {"label": f"com.docker.compose.project={self.project}"}
            found = self._call(
                "listing containers", lambda: self._docker.container.list(all=True, filters=filters)
            )
            self._listing = [self._describe(c) for c in found]
        infos = list(self._listing)
        if services is not None:
            infos = [c for c in infos if c.service in services]
        return sorted(infos, key=lambda c: c.name)

    def containers_named(self, name: str) -> list[ContainerInfo]:
        found = self._call(
            "listing containers",
            lambda: self._docker.container.list(all=True, filters={"name": f"^/{name}$"}),
        )
        return [self._describe(c) for c in found]

    def remove_container(self, container_id: str) -> None:
        self._listing = None
        self._call(
            "removing a stale container",
            lambda: self._docker.container.remove(container_id, force=True, volumes=False),
        )

    def _running(self, service: str) -> Any:
        found = [c for c in self.containers([service]) if c.running]
        if not found:
            raise JlcomposeError(
                f"the {service} lab is not running.", hint=f"start it: jlcompose up {service}"
            )
        return found[0].id

    def exec_stream(
        self, service: str, argv: Sequence[str], *, user: str | None = None
    ) -> Generator[str, None, int]:
        from python_on_whales.exceptions import DockerException

        cid = self._running(service)
        stream = self._docker.container.execute(cid, list(argv), stream=True, user=user)
        assert not isinstance(stream, str | None)
        try:
            for _source, raw in stream:
                yield raw.decode("utf-8", errors="replace").rstrip("\n")
        except DockerException as exc:
            return exc.return_code
        return 0

    def logs(self, service: str, *, follow: bool, tail: int | None) -> Iterator[str]:
        stream = self._docker.compose.logs(
            [service],
            follow=follow,
            tail=str(tail) if tail is not None else None,
            stream=True,
            no_log_prefix=True,
        )
        for _source, raw in stream:
            yield raw.decode("utf-8", errors="replace").rstrip("\n")

    def gpu_probe(self, image: str) -> bool:
        from python_on_whales.exceptions import DockerException

        # create succeeds either way; the engine picks the device driver at start
        container = self._call(
            "probing the engine for GPU support",
            lambda: self._docker.container.create(image, ["true"], gpus="all", entrypoint=""),
        )
        try:
            self._docker.container.start(container)
        except DockerException as exc:
            if GPU_DRIVER_ERROR.search(exc.stderr or ""):
                return False
            raise ComposeFailed(
                "probing the engine for GPU support failed.",
                cmd=[str(c) for c in exc.docker_command],
                returncode=exc.return_code,
                stderr_tail=_tail(exc.stderr),
            ) from None
        finally:
            self._docker.container.remove(container, force=True)
        return True


def _compose_reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "level=warning" not in ln]
    reason = lines[-1] if lines else "no reason given"
    return reason if reason.endswith(".") else reason + "."


def _build_error_tail(text: str) -> str:
    """The lines of a BuildKit log that explain a failure, not the whole log."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if " ERROR" in line or line.startswith("ERROR") or "failed to solve" in line:
            return "\n".join(lines[max(0, i - 12) : i + 6])
    return "\n".join(lines[-15:])
