"""python-on-whales' inspect results, as the engine's own values (ContainerInfo, ImageInfo)."""

from __future__ import annotations

from typing import Any

from jlcompose.core import gpus
from jlcompose.engine.api import ContainerInfo, ImageInfo


def _env_pairs(env: list[str] | None) -> dict[str, str]:
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
        env=_env_pairs(image.config.env),
    )


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
        env=_env_pairs(data.config.env),
        gpu=bool(requests),
        gpus=",".join(held),
    )
