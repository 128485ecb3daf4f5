"""What each service's image should be now: its inputs (read once), hash, tag and address."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jlcompose.core import hashing, quickbuild
from jlcompose.core.composemodel import Address, ComposeModel
from jlcompose.core.includes import include_paths
from jlcompose.core.lockfile import LOCK_NAME
from jlcompose.engine.api import Engine, ImageInfo
from jlcompose.errors import RequirementError
from jlcompose.project import Project, Service


@dataclass(frozen=True)
class ServiceInputs:
    """Every file the Dockerfile copies for one service, read once per command."""

    service: Service
    files: tuple[tuple[str, bytes], ...]  # (path relative to docker_files/, content), sorted
    requirements_rel: str  # the requirements file's path among them

    @property
    def requirements_text(self) -> str:
        data = dict(self.files).get(self.requirements_rel, b"")
        return data.decode("utf-8", errors="replace")

    @property
    def lock_text(self) -> str | None:
        """requirements.lock beside requirements.txt (`jlcompose lock`), if there is one."""
        rel = self.requirements_rel.rpartition("/")[0] + "/" + LOCK_NAME
        data = dict(self.files).get(rel)
        return None if data is None else data.decode("utf-8", errors="replace")


def collect_inputs(project: Project, service: Service) -> ServiceInputs:
    docker_files = project.docker_files
    paths: set[Path] = {docker_files / "Dockerfile"}
    for sub in ("lab", "certs", service.name):
        folder = docker_files / sub
        if folder.is_dir():
            paths.update(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for inc in include_paths(service.requirements):
        if service.folder not in inc.parents:
            raise RequirementError(
                f"{service.requirements} includes {inc}, which is outside "
                f"{service.folder} and so is not copied into the image.",
                hint=f"move the included file into {service.folder}/.",
            )
        paths.add(inc)
    files = tuple((p.relative_to(docker_files).as_posix(), p.read_bytes()) for p in sorted(paths))
    return ServiceInputs(service, files, service.requirements.relative_to(docker_files).as_posix())


@dataclass(frozen=True)
class Target:
    inputs: ServiceInputs
    repo: str
    hash: str
    build_args: Mapping[str, str]
    address: Address | None
    inputs_hash: str  # the hash of everything but requirements.txt (quick builds)

    @property
    def service(self) -> Service:
        return self.inputs.service

    @property
    def tag(self) -> str:
        return hashing.short(self.hash)

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}"


def resolve(
    engine: Engine,
    model: ComposeModel,
    inputs: Iterable[ServiceInputs],
    bases: Mapping[str, ImageInfo | None] | None = None,
) -> dict[str, Target]:
    """Hash each service; `bases` are base images already looked up (pull.ensure_bases)."""
    out: dict[str, Target] = {}
    for given in inputs:
        svc = model.service(given.service.name)
        repo = svc.image_repo()
        args = {k: v for k, v in svc.checked_build_args().items() if k != "JLC_HASH"}
        base = svc.base_image
        # a local base rebuilt under the same tag must count as a change
        found = (bases[base] if bases is not None and base in bases else engine.image(base)) if base else None
        base_id = found.id if found else None
        out[svc.name] = Target(
            inputs=given,
            repo=repo,
            hash=hashing.image_hash(given.files, args, base_id),
            build_args=args,
            address=svc.address,
            inputs_hash=quickbuild.inputs_hash(given.files, given.requirements_rel, args, base_id),
        )
    return out


def tags_of(targets: Mapping[str, Target]) -> dict[str, str]:
    return {name: t.tag for name, t in targets.items()}
