"""The Engine over python-on-whales: the only place that imports it (lazily: `--help` stays fast).

Docker calls use python-on-whales' object API; Compose calls go through runner.py, which
hands each one its Stack's variables. Every failure leaves here as a JlcomposeError subclass.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from jlcompose.core.distribution import arch_of
from jlcompose.core.endpoint import Endpoint, parse_host
from jlcompose.engine import contexts, translate
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
from jlcompose.engine.channels import ProcessChannel, SshTunnel
from jlcompose.engine.describe import describe, engine_info, image_info
from jlcompose.engine.registry import Registry, docker_config_text, urllib_fetch
from jlcompose.engine.runner import Runner, configured_host, decode, docker_missing, log
from jlcompose.errors import (
    ComposeFailed,
    ConfigError,
    DaemonDown,
    LabNotRunning,
    UsageError,
)

LISTING_S = 1.0


class PowEngine:
    """One python-on-whales client for the whole command; the Stack arrives with each call."""

    def __init__(self) -> None:
        self._runner = Runner()
        self._docker = self._runner.docker
        # containers() is asked several times per command (running? then exec); the answer
        # stays good until this engine changes something, or LISTING_S passed: another process
        # (a second `up` this one waited for, the lab recreated under a long-running watcher or
        # remote link) may have changed the containers meanwhile
        self._listing: dict[str, tuple[float, list[ContainerInfo]]] = {}
        self._endpoint: Endpoint | None = None
        self._arch = platform.machine()  # the daemon's, once info() has asked it

    # -- Engine ---------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        if shutil.which("docker") is None:
            raise docker_missing()
        sysinfo = self._runner.call("docker info", self._docker.system.info)
        if not sysinfo.server_version:
            raise DaemonDown(configured_host())
        self._arch = str(sysinfo.architecture or self._arch)
        return engine_info(sysinfo)

    def config(self, stack: Stack) -> dict[str, Any]:
        try:
            text = self._runner.compose("reading the compose files", stack, ["config", "--format", "json"])
        except ComposeFailed as exc:
            # Compose rejects bad .env values and compose-file edits here: a user error
            raise ConfigError(
                f"Docker Compose refused the configuration: {translate.compose_reason(exc.stderr_tail)}",
                hint="check the values in .env and your edits to compose/*.yaml.",
                detail=exc.stderr_tail,
            ) from None
        return dict(json.loads(text))

    def image(self, ref: str) -> ImageInfo | None:
        from python_on_whales.exceptions import NoSuchImage

        def inspect() -> Any:
            try:
                return self._docker.image.inspect(ref)
            except NoSuchImage:
                return None

        found = self._runner.call(f"inspecting image {ref}", inspect)
        return None if found is None else image_info(ref, found)

    def images(self, repository: str) -> list[ImageInfo]:
        found = self._runner.call("listing images", lambda: self._docker.image.list(repository))
        out = []
        for image in found:
            for tag in image.repo_tags or []:
                if tag.rsplit(":", 1)[0] == repository:
                    out.append(image_info(tag, image))
        return out

    def remove_image(self, ref: str) -> None:
        self._runner.call(f"removing image {ref}", lambda: self._docker.image.remove(ref, prune=True))

    def remote_image(self, ref: str) -> RemoteImage:
        # short timeouts: an answer that takes longer is not worth delaying a pull or doctor for
        registry = Registry(
            fetch=urllib_fetch(timeout=5.0), docker_config=docker_config_text(), arch=arch_of(self._arch)
        )
        log.debug("reading the manifest and config of %s from its registry", ref)
        return registry.image(ref)

    def pull(self, ref: str, service: str, on_line: LineSink) -> None:
        from python_on_whales.client_config import ClientNotFoundError
        from python_on_whales.exceptions import DockerException

        # python-on-whales runs `docker image pull` with pipes: per-layer status lines, no byte
        # counts (core/pullstatus.py counts bytes from the manifest's layer sizes instead)
        log.debug("Running command: docker image pull %s", ref)
        seen: list[str] = []
        try:
            stream = cast("Iterable[tuple[str, bytes]]", self._docker.image.pull(ref, stream_logs=True))
            for _source, raw in stream:
                line = decode(raw)
                seen.append(line)
                del seen[:-40]
                on_line(line)
        except ClientNotFoundError:
            raise docker_missing() from None
        except DockerException as exc:
            stderr = exc.stderr or "\n".join(seen)
            if (gone := translate.engine_gone(stderr)) is not None:
                raise gone from None
            raise translate.pull_failure(service, ref, stderr) from None
        except UnicodeDecodeError:  # python-on-whales decodes a failed call's stderr strictly
            raise translate.pull_failure(service, ref, "\n".join(seen)) from None
        except FileNotFoundError:
            raise docker_missing() from None

    def build(self, stack: Stack, service: str, build_args: Mapping[str, str], on_line: LineSink) -> None:
        args = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
        cmd = [*self._runner.compose_cmd(stack), "build", *args, service]
        # plain progress: one line per BuildKit event, which progress.py turns into a live view
        env = {**stack.env, "BUILDKIT_PROGRESS": os.environ.get("BUILDKIT_PROGRESS", "plain")}
        log.debug("compose variables: %s", stack.shown_variables())
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            on_line(line)

        if self._runner.stream(cmd, keep, env) != 0:
            raise translate.build_failure(service, "\n".join(lines))

    def up(self, stack: Stack, services: Sequence[str]) -> None:
        self._listing.pop(stack.project_name, None)
        try:
            self._runner.compose("starting", stack, ["up", "--detach", "--no-build", *services])
        except ComposeFailed as exc:
            raise translate.start_failure(", ".join(services), exc.stderr_tail) from None

    def down(self, stack: Stack, services: Sequence[str] | None, *, volumes: bool = False) -> None:
        self._listing.pop(stack.project_name, None)
        if services:
            self._runner.compose("stopping", stack, ["rm", "--force", "--stop", *services])
        else:
            extra = ["--volumes"] if volumes else []
            self._runner.compose("stopping", stack, ["down", "--remove-orphans", *extra])

    def containers(self, stack: Stack, services: Sequence[str] | None = None) -> list[ContainerInfo]:
        name = stack.project_name
        cached = self._listing.get(name)
        if cached is None or time.monotonic() - cached[0] > LISTING_S:
            label = f"com.docker.compose.project={name}"
            found = self._runner.call(
                "listing containers",
                lambda: self._docker.container.list(all=True, filters=[("label", label)]),
            )
            cached = (time.monotonic(), [describe(c) for c in found])
            self._listing[name] = cached
        infos = list(cached[1])
        if services is not None:
            infos = [c for c in infos if c.service in services]
        return sorted(infos, key=lambda c: c.name)

    def containers_named(self, name: str) -> list[ContainerInfo]:
        found = self._runner.call(
            "listing containers",
            lambda: self._docker.container.list(all=True, filters=[("name", f"^/{name}$")]),
        )
        return [describe(c) for c in found]

    def containers_publishing(self, port: int) -> list[ContainerInfo]:
        found = self._runner.call(
            "listing containers",
            lambda: self._docker.container.list(filters=[("publish", str(port))]),
        )
        return [describe(c) for c in found]

    def remove_container(self, container_id: str) -> None:
        self._listing.clear()
        self._runner.call(
            "removing a stale container",
            lambda: self._docker.container.remove(container_id, force=True, volumes=False),
        )

    def exec(
        self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None, on_line: LineSink
    ) -> int:
        found = [c for c in self.containers(stack, [service]) if c.running]
        if not found:
            raise LabNotRunning(service)
        cmd = [*self._runner.docker_cmd(), "exec", *(["--user", user] if user else []), found[0].id, *argv]
        return self._runner.stream(cmd, on_line)

    def logs(self, stack: Stack, service: str, *, follow: bool, tail: int | None, on_line: LineSink) -> None:
        args = ["logs", "--no-color", "--no-log-prefix"]
        args += ["--tail", str(tail)] if tail is not None else []
        args += ["--follow"] * follow
        cmd = [*self._runner.compose_cmd(stack), *args, service]
        log.debug("compose variables: %s", stack.shown_variables())
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            del lines[:-15]
            on_line(line)

        rc = self._runner.stream(cmd, keep, stack.env)
        if rc != 0:
            raise ComposeFailed(
                f"reading the {service} lab's log failed (exit {rc}).",
                cmd=cmd,
                returncode=rc,
                stderr_tail="\n".join(lines),
            )

    def gpu_probe(self, image: str) -> bool:
        from python_on_whales.exceptions import DockerException

        # create succeeds either way; the engine picks the device driver at start
        container = self._runner.call(
            "probing the engine for GPU support",
            lambda: self._docker.container.create(image, ["true"], gpus="all", entrypoint=""),
        )
        try:
            self._docker.container.start(container)
        except DockerException as exc:
            if translate.GPU_DRIVER_ERROR.search(exc.stderr or ""):
                return False
            raise self._runner.failure("probing the engine for GPU support", exc) from None
        finally:
            # the daemon may have gone away meanwhile: the probe's answer (or error) matters more
            with contextlib.suppress(DockerException):
                self._docker.container.remove(container, force=True)
        return True

    # -- remote engines --------------------------------------------------------------------
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            found = contexts.current()
            if found is None:  # a context the CLI's files do not describe: ask the CLI
                context = self._runner.call("reading the Docker context", self._current_context)
                docker = (context.endpoints or {}).get("docker")
                found = parse_host(str(docker.host if docker else ""), context=context.name)
            self._endpoint = found
        return self._endpoint

    def _current_context(self) -> Any:
        return self._docker.context.inspect(None)

    def attach(self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None) -> Channel:
        found = [c for c in self.containers(stack, [service]) if c.running]
        if not found:
            raise LabNotRunning(service)
        who = ["--user", user] if user else []
        return ProcessChannel([*self._runner.docker_cmd(), "exec", "-i", *who, found[0].id, *argv])

    def run_attached(self, stack: Stack, service: str, argv: Sequence[str], *, user: str | None) -> Channel:
        who = ["--user", user] if user else []
        cmd = [*self._runner.compose_cmd(stack), "run", "--rm", "-T", "--no-deps", *who]
        log.debug("compose variables: %s", stack.shown_variables())
        return ProcessChannel([*cmd, "--entrypoint", argv[0], service, *argv[1:]], stack.env)

    def forward(self, bind: str, port: int, remote_port: int) -> Tunnel:
        endpoint = self.endpoint()
        if endpoint.kind != "ssh":
            raise UsageError(f"only an ssh:// engine can forward the lab's port, not {endpoint.url}.")
        return SshTunnel(endpoint, bind, port, remote_port)
