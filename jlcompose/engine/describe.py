"""python-on-whales' inspect and info results as the engine's own values."""

from __future__ import annotations

from typing import Any

from jlcompose.core import gpus
from jlcompose.engine import translate
from jlcompose.engine.api import MIN_COMPOSE, ContainerInfo, EngineInfo, ImageInfo
from jlcompose.errors import ComposeMissing, ComposeTooOld


def env_pairs(env: list[str] | None) -> dict[str, str]:
    out = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def image_info(ref: str, image: Any) -> ImageInfo:
    return ImageInfo(
        ref=ref,
        id=str(image.id),
        labels=dict(image.config.labels or {}),
        env=env_pairs(image.config.env),
    )


def published(ports: Any) -> tuple[tuple[int, str, int], ...]:
    """NetworkSettings.Ports ({"8888/tcp": [{"HostIp": ..., "HostPort": ...}]}) as triples."""
    out = []
    for key, bindings in (ports or {}).items():
        number = str(key).split("/", 1)[0]
        for b in bindings or []:
            host_port = str(b.get("HostPort", "")) if isinstance(b, dict) else ""
            if number.isdigit() and host_port.isdigit():
                out.append((int(number), str(b.get("HostIp", "")), int(host_port)))
    return tuple(sorted(out))


def describe(c: Any) -> ContainerInfo:
    # the inspect result `container.list` just fetched: each attribute of a
    # python-on-whales Container would re-run `docker inspect` once its 10 ms cache aged
    data = getattr(c, "_inspect_result", None) or c._get_inspect_result()
    labels = dict(data.config.labels or {})
    health = data.state.health.status if data.state.health else None
    requests = getattr(data.host_config, "device_requests", None) or []
    held = [gpus.shown(r.count, r.device_ids) for r in requests if "gpu" in str(r.capabilities)]
    return ContainerInfo(
        id=str(data.id),
        name=str(data.name).lstrip("/"),
        service=labels.get("com.docker.compose.service", ""),
        project=labels.get("com.docker.compose.project", ""),
        state=str(data.state.status),
        health=str(health) if health else None,
        image=str(data.config.image),
        labels=labels,
        env=env_pairs(data.config.env),
        published=published(getattr(data.network_settings, "ports", None)),
        gpu=bool(requests),
        gpus=",".join(held),
    )


def engine_info(sysinfo: Any) -> EngineInfo:
    """`docker info` as EngineInfo; Compose missing or too old is an error here, not later."""
    # `docker info` lists the CLI's plugins: no second process just to ask Compose
    plugins = (sysinfo.client_info.plugins or []) if sysinfo.client_info else []
    compose = next((p for p in plugins if p.name == "compose"), None)
    minimum = ".".join(map(str, MIN_COMPOSE))
    if compose is None or not compose.version:
        raise ComposeMissing(
            "Docker Compose v2 (`docker compose`) is not installed.",
            hint=f"install the docker-compose-plugin package (Compose {minimum} or newer).",
        )
    raw = str(compose.version)
    version = translate.parse_version(raw)
    if not version or version < MIN_COMPOSE:
        raise ComposeTooOld(
            f"Docker Compose {raw} is too old; jlcompose needs {minimum} or newer.",
            hint="upgrade the docker-compose-plugin package.",
        )
    return EngineInfo(
        server_version=str(sysinfo.server_version),
        compose_version=".".join(map(str, version)),
        engine_id=str(sysinfo.id or ""),
        runtimes=tuple((sysinfo.runtimes or {}).keys()),
        docker_root_dir=str(sysinfo.docker_root_dir or ""),
    )
