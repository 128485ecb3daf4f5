"""What each service's image should be right now: its hash, tag and published address."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jlcompose import hashing, quickbuild
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
    inputs: str = ""  # the hash of everything but requirements.txt (quick builds)
    requirements_text: str = ""

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
        files = project.hash_inputs(svc)
        args = {k: v for k, v in args.items() if k != "JLC_HASH"}
        digest = hashing.image_hash(files, args, base_id)
        rel = svc.requirements.relative_to(project.root / project.config.docker_files).as_posix()
        out[svc.name] = Target(
            svc,
            repo,
            digest,
            args,
            address_of(compose_config, svc.name),
            inputs=quickbuild.inputs_hash(files, rel, args, base_id),
            requirements_text=svc.requirements.read_text(encoding="utf-8"),
        )
    return out


def tags_of(targets: Mapping[str, Target]) -> dict[str, str]:
    return {name: t.tag for name, t in targets.items()}
