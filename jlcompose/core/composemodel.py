"""Pure: `docker compose config --format json`, parsed once into what jlcompose reads from it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jlcompose.errors import ConfigError, UnknownService

LAB_PORT = 8888  # the port JupyterLab listens on inside the container
# The tag variables' value while only the configuration is read (before anything is hashed).
TAG_PENDING = "jlc-pending"
# name[:tag][@digest], lowercase repository path (the Docker reference grammar, simplified)
_IMAGE_REF = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


def service_variable(service: str, suffix: str) -> str:
    """The Compose variable of one service: JLC_TORCH_TAG, JLC_MY_LAB_PORT, ..."""
    return f"JLC_{service.upper().replace('-', '_')}_{suffix}"


@dataclass(frozen=True)
class Address:
    host: str  # the address to browse to (127.0.0.1 when bound to all interfaces)
    bind: str  # the host address the port is published on
    port: int


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str  # as configured, e.g. jlcompose/demo-torch:jlc-pending
    build_args: Mapping[str, str]
    address: Address | None  # where the lab's port 8888 is published, if it is
    raw: Mapping[str, Any] = field(default_factory=dict)  # the whole resolved service

    @property
    def base_image(self) -> str | None:
        return self.build_args.get("BASE_IMAGE")

    def checked_build_args(self) -> Mapping[str, str]:
        """The build args, once the base image is known to be a valid image reference."""
        base = self.base_image
        if base is not None and not _IMAGE_REF.match(base):
            raise ConfigError(
                f"the base image of {self.name} is {base!r}, which is not a valid image reference "
                f"(set by {service_variable(self.name, 'BASE')} in .env or the environment).",
            )
        return self.build_args

    def image_repo(self) -> str:
        """The image repository, checking that the tag is jlcompose's tag variable."""
        repo, _, tag = self.image.rpartition(":")
        if tag != TAG_PENDING or not repo:
            raise ConfigError(
                f"compose/compose.yaml: the image of {self.name} must end with "
                f":${{{service_variable(self.name, 'TAG')}:-latest}} so jlcompose can tag it with "
                f"its hash (found {self.image!r}).",
            )
        return repo


@dataclass(frozen=True)
class ComposeModel:
    name: str
    services: Mapping[str, ComposeService]

    def service(self, name: str) -> ComposeService:
        if name not in self.services:
            raise UnknownService(
                f"compose/compose.yaml has no service {name!r}.",
                hint="add it there, or remove its folder from docker_files/.",
            )
        return self.services[name]


def _address(ports: Any) -> Address | None:
    for port in ports or []:
        if not isinstance(port, dict):
            continue
        if int(port.get("target", 0)) == LAB_PORT and port.get("published"):
            bind = str(port.get("host_ip") or "0.0.0.0")
            host = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
            return Address(host=host, bind=bind, port=int(port["published"]))
    return None


def _build_args(raw: Mapping[str, Any]) -> dict[str, str]:
    args = (raw.get("build") or {}).get("args") or {}
    return {str(k): "" if v is None else str(v) for k, v in args.items()}


def parse(data: Mapping[str, Any]) -> ComposeModel:
    services = {}
    for name, raw in (data.get("services") or {}).items():
        raw = raw or {}
        services[str(name)] = ComposeService(
            name=str(name),
            image=str(raw.get("image") or ""),
            build_args=_build_args(raw),
            address=_address(raw.get("ports")),
            raw=raw,
        )
    return ComposeModel(name=str(data.get("name", "")), services=services)
