"""What each service's image should be right now: its hash, tag and published address."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jlcompose import hashing
from jlcompose.compose import Engine
from jlcompose.lab import Address, address_of
from jlcompose.project import Project, Service, build_args_of, image_repo_of


@dataclass(frozen=True)
class Target:
    service: Service
    repo: str
    hash: str
    build_args: Mapping[str, str]
    address: Address | None

    @property
    def tag(self) -> str:
        return hashing.short(self.hash)

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}"


def resolve(
    project: Project, engine: Engine, services: Iterable[Service], compose_config: Mapping[str, Any]
) -> dict[str, Target]:
    out: dict[str, Target] = {}
    for svc in services:
        repo = image_repo_of(compose_config, svc)
        args = build_args_of(compose_config, svc.name)
        base = args.get("BASE_IMAGE")
        # a local base rebuilt under the same tag must count as a change
        base_id = engine.image_id(base) if base else None
        digest = project.image_hash(svc, args, base_id)
        out[svc.name] = Target(svc, repo, digest, args, address_of(compose_config, svc.name))
    return out


def tags_of(targets: Mapping[str, Target]) -> dict[str, str]:
    return {name: t.tag for name, t in targets.items()}
