"""A python-on-whales container inspect result as jlcompose's ContainerInfo."""

from __future__ import annotations

from typing import Any

from jlcompose.core import gpus
from jlcompose.engine.api import ContainerInfo


def env_pairs(env: list[str] | None) -> dict[str, str]:
    out = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


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
