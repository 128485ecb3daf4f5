"""Build policy: build only what changed, quick builds on the previous image, host CA certificates."""

from __future__ import annotations

from pathlib import Path

from jlcompose import console
from jlcompose.core import lockfile, quickbuild
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import BuildFailed, ConfigError, UsageError
from jlcompose.files import atomic_write
from jlcompose.lab import labfiles
from jlcompose.lab.progress import BuildView
from jlcompose.lab.targets import Target
from jlcompose.project import Project

HASH_LABEL = "org.jlcompose.hash"


def _wanted_certs(project: Project) -> dict[str, bytes] | None:
    """docker_files/certs/host-*.crt as the configured CA certificates want them (None: not configured)."""
    source = project.config.ca_certs
    if source is None:
        return None
    wanted = {}
    for pem in [source] if source.is_file() else sorted(source.glob("*.crt")):
        wanted[f"host-{pem.name if pem.suffix == '.crt' else pem.name + '.crt'}"] = pem.read_bytes()
    return wanted


def ca_certs_stale(project: Project) -> bool:
    """Whether sync_ca_certs would change docker_files/certs/ (read only)."""
    wanted = _wanted_certs(project)
    if wanted is None:
        return False
    certs = project.docker_files / "certs"
    have = {p.name: p.read_bytes() for p in certs.glob("host-*.crt")} if certs.is_dir() else {}
    return have != wanted


def sync_ca_certs(project: Project) -> None:
    """Copy the configured extra CA certificates into docker_files/certs/ for the build."""
    wanted = _wanted_certs(project)
    if wanted is None:
        return
    certs = project.docker_files / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    for old in certs.glob("host-*.crt"):
        if old.name not in wanted:
            old.unlink()
    for name, data in wanted.items():
        target = certs / name
        if not target.is_file() or target.read_bytes() != data:
            atomic_write(target, data, mode=0o644)


def context_stale(project: Project) -> bool:
    """Whether docker_files/ lacks what jlcompose puts there before a build (read only)."""
    return ca_certs_stale(project) or labfiles.stale(project)


def sync_context(project: Project) -> None:
    """Put the configured CA certificates and jlcompose's lab code into docker_files/."""
    sync_ca_certs(project)
    labfiles.sync(project)


def build_if_needed(
    project: Project, engine: Engine, stack: Stack, target: Target, *, rebuild: bool, no_build: bool
) -> None:
    """Make sure the image for target's hash exists: nothing, a quick build, or a full build."""
    found = engine.image(target.ref)
    name = target.service.name
    if found is not None and found.labels.get(HASH_LABEL) == target.hash and not rebuild:
        console.ok(f"{name}: image {target.tag} is current, no build needed")
        return
    if no_build:
        raise UsageError(
            f"{name}: the image for hash {target.tag} does not exist and --no-build was given.",
            hint=f"run `jlcompose up {name}` without --no-build.",
        )
    locked = _from_lock(project, target)
    args = {
        **target.build_args,
        "JLC_HASH": target.hash,
        "JLC_INPUTS": target.inputs_hash,
        "JLC_REQUIREMENTS": quickbuild.encode(target.inputs.requirements_text),
        "JLC_REQUIREMENTS_FILE": lockfile.LOCK_NAME if locked else "requirements.txt",
    }
    # a lock is the whole set: nothing to add to an older image
    if not rebuild and not locked and _quick_build(project, engine, stack, target, args):
        return
    how = f" from {lockfile.LOCK_NAME}" if locked else ""
    console.step(f"{name}: building image {target.tag}{how} (what shapes it changed)")
    with BuildView(name) as view:
        engine.build(stack, name, args, view)
    _check_label(engine, target)
    console.ok(f"{name}: built {target.tag} in {view.elapsed:.1f} s")


def _from_lock(project: Project, target: Target) -> bool:
    """Whether the build installs requirements.lock: one made from these very requirements."""
    lock = target.inputs.lock_text
    if lock is None:
        return False
    service = target.service
    shown = project.relative(service.folder / lockfile.LOCK_NAME)
    if not lockfile.applies(lock, target.inputs.requirements_text):
        console.warn(
            f"{shown} is older than {project.relative(service.requirements)}: building from "
            f"{service.requirements.name}; `jlcompose lock {service.name}` (once the lab runs) locks "
            "again, or delete the lock"
        )
        return False
    dockerfile = dict(target.inputs.files).get("Dockerfile", b"")
    if b"JLC_REQUIREMENTS_FILE" not in dockerfile:
        raise ConfigError(
            f"{shown} is there, but {project.config.docker_files}/Dockerfile does not install it "
            "(it has no JLC_REQUIREMENTS_FILE build arg).",
            hint="`jlcompose init --force` writes the current Dockerfile; or delete the lock.",
        )
    return True


def _quick_build(
    project: Project, engine: Engine, stack: Stack, target: Target, args: dict[str, str]
) -> bool:
    """Build FROM the previous image when requirements only gained lines; False: do a full build."""
    name = target.service.name
    images = [(i.ref, i.labels) for i in engine.images(target.repo)]
    quick = quickbuild.choose_previous(images, target.inputs_hash, target.inputs.requirements_text)
    if quick is None:
        return False
    override: Path = project.state.quick_override(name)
    atomic_write(override, quickbuild.override_yaml(name, quick).encode())
    console.step(
        f"{name}: quick build of image {target.tag}: adding {', '.join(quick.added)} "
        f"to {quick.previous.rpartition(':')[2]}"
    )
    try:
        with BuildView(name) as view:
            engine.build(stack.with_files([override]), name, args, view)
    except BuildFailed as exc:
        console.warn(f"{name}: the quick build failed ({exc.message}); building in full")
        return False
    _check_label(engine, target)
    console.ok(f"{name}: built {target.tag} in {view.elapsed:.1f} s (quick build)")
    return True


def _check_label(engine: Engine, target: Target) -> None:
    found = engine.image(target.ref)
    if found is None or found.labels.get(HASH_LABEL) != target.hash:
        raise BuildFailed(
            f"the build of {target.service.name} finished but image {target.ref} carries no "
            "matching hash label.",
            hint="check that compose/compose.yaml tags the image with ${JLC_..._TAG} and the "
            "Dockerfile ends with the JLC_HASH label.",
        )
