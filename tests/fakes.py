"""FakeEngine: records calls, holds images and containers in memory, fails on request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jlcompose.compose import ContainerInfo, EngineInfo
from jlcompose.errors import BuildFailed, EngineError, StartFailed


@dataclass
class FakeEngine:
    project: str = "demo"
    compose_config: dict[str, Any] = field(default_factory=dict)
    image_store: dict[str, dict[str, str]] = field(default_factory=dict)  # ref -> labels
    image_envs: dict[str, dict[str, str]] = field(default_factory=dict)
    running: dict[str, ContainerInfo] = field(default_factory=dict)  # service -> container
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail_build: bool = False
    fail_up: StartFailed | None = None
    fail_info: EngineError | None = None
    gpu: bool = False
    exec_handler: Callable[[str, Sequence[str], str | None], tuple[int, list[str]]] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    extra_files: list[Any] = field(default_factory=list)  # compose overrides of the last factory call
    build_lines: list[str] = field(default_factory=lambda: ["#1 [lab 1/2] FROM base", "#1 DONE 0.1s"])

    def info(self) -> EngineInfo:
        self.calls.append(("info",))
        if self.fail_info:
            raise self.fail_info
        return EngineInfo(server_version="27.0.0", compose_version="2.40.3", engine_id="fake-id")

    def config(self) -> dict[str, Any]:
        self.calls.append(("config",))
        return self.compose_config

    def image_labels(self, ref: str) -> dict[str, str] | None:
        return self.image_store.get(ref)

    def image_env(self, ref: str) -> dict[str, str] | None:
        return self.image_envs.get(ref)

    def image_id(self, ref: str) -> str | None:
        return "sha256:" + hashlib.sha256(ref.encode()).hexdigest() if ref in self.image_store else None

    def images(self, repository: str) -> list[tuple[str, dict[str, str]]]:
        return [(r, l) for r, l in self.image_store.items() if r.rsplit(":", 1)[0] == repository]

    def remove_image(self, ref: str) -> None:
        self.calls.append(("remove_image", ref))
        self.image_store.pop(ref, None)

    def build(self, service: str, build_args: Mapping[str, str], on_line: Callable[[str], None]) -> None:
        self.calls.append(("build", service, dict(build_args)))
        for line in self.build_lines:
            on_line(line)
        if self.fail_build:
            raise BuildFailed(f"building the {service} image failed; the running lab was left as it was.")
        image = self.compose_config["services"][service]["image"]
        repo = image.rpartition(":")[0]
        tag = self.variables.get(f"JLC_{service.upper()}_TAG", "latest")
        self.image_store[f"{repo}:{tag}"] = {
            "org.jlcompose.hash": build_args.get("JLC_HASH", ""),
            "org.jlcompose.inputs": build_args.get("JLC_INPUTS", ""),
            "org.jlcompose.requirements": build_args.get("JLC_REQUIREMENTS", ""),
            "org.jlcompose.quick-depth": "1" if self.extra_files else "0",
        }

    def up(self, services: Sequence[str]) -> None:
        self.calls.append(("up", tuple(services)))
        if self.fail_up:
            raise self.fail_up
        for s in services:
            image = self.compose_config["services"][s]["image"].rpartition(":")[0]
            tag = self.variables.get(f"JLC_{s.upper()}_TAG", "latest")
            ref = f"{image}:{tag}"
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
                gpu=self.gpu,
            )

    def down(self, services: Sequence[str] | None) -> None:
        self.calls.append(("down", tuple(services) if services else None))
        for s in list(self.running):
            if not services or s in services:
                del self.running[s]

    def stop(self, services: Sequence[str]) -> None:
        self.calls.append(("stop", tuple(services)))
        for s in services:
            if s in self.running:
                self.running[s] = replace(self.running[s], state="exited")

    def containers(self, services: Sequence[str] | None = None) -> list[ContainerInfo]:
        return [c for s, c in sorted(self.running.items()) if services is None or s in services]

    def containers_named(self, name: str) -> list[ContainerInfo]:
        return [c for c in self.running.values() if c.name == name]

    def remove_container(self, container_id: str) -> None:
        self.calls.append(("remove_container", container_id))
        for s, c in list(self.running.items()):
            if c.id == container_id:
                del self.running[s]

    def exec_stream(
        self, service: str, argv: Sequence[str], *, user: str | None = None
    ) -> Generator[str, None, int]:
        self.calls.append(("exec", service, tuple(argv), user))
        rc, lines = (0, []) if self.exec_handler is None else self.exec_handler(service, argv, user)
        yield from lines
        return rc

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

    def logs(self, service: str, *, follow: bool, tail: int | None) -> Iterator[str]:
        self.calls.append(("logs", service, follow, tail))
        yield from ["[I ServerApp] Jupyter Server is running"]

    def gpu_probe(self, image: str) -> bool:
        self.calls.append(("gpu_probe", image))
        return self.gpu
