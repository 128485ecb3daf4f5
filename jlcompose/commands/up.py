"""`jlcompose up`: build only what changed, then start (or keep) the lab and print its URL."""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jlcompose import console, fastpath, quickbuild
from jlcompose.compose import ContainerInfo, Engine
from jlcompose.errors import BuildFailed, ConfigError, StartFailed, UsageError
from jlcompose.files import atomic_write, locked
from jlcompose.lab import Address, lab_url, port_in_use, wait_ready
from jlcompose.progress import BuildView
from jlcompose.project import HASH_LABEL, Project, make_engine, open_project
from jlcompose.targets import Target, resolve, tags_of

HELP = "build the lab image if what shapes it changed, start the lab, print its URL"
DESCRIPTION = """\
Build the lab image only when its hash changed (requirements, Dockerfile, base image,
build args), start JupyterLab with this folder mounted at /workspace, wait until it
answers, and print http://127.0.0.1:PORT/lab?token=... on stdout.

A build always finishes before the running lab is touched: a failed build leaves it
running as it was. On an engine without NVIDIA support the lab starts on CPU.

examples:
  jlcompose up                 the default service (torch)
  jlcompose up torch tf        both labs (ports 8888 and 8889)
  jlcompose up --cpu           no GPU reservation, even where one is possible
  jlcompose up --rebuild       build and replace the container even if nothing changed
"""

EngineFactory = Callable[..., Engine]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services to start (default: torch)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--cpu", action="store_true", help="start without a GPU reservation")
    mode.add_argument("--gpu", action="store_true", help="insist on a GPU; fail if the engine has none")
    build = p.add_mutually_exclusive_group()
    build.add_argument("--rebuild", action="store_true", help="build and recreate even if nothing changed")
    build.add_argument("--no-build", action="store_true", help="never build; fail if the image is missing")
    p.add_argument(
        "--recreate",
        action="store_true",
        help="replace a running lab that has hot-installed packages with the new image",
    )
    p.add_argument("--open", action="store_true", help="open the lab in a web browser")
    p.add_argument("--watch", action="store_true", help="then keep watching requirements (see `watch`)")


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    gpu = "cpu" if args.cpu else "gpu" if args.gpu else project.config.gpu
    rc = up(
        project,
        args.services,
        gpu=gpu,
        rebuild=args.rebuild,
        no_build=args.no_build,
        recreate=args.recreate,
        open_browser=args.open,
    )
    if rc == 0 and args.watch:
        from jlcompose.commands.watch import watch

        return watch(project, args.services, poll=False, rebuild=False)
    return rc


def up(
    project: Project,
    names: Sequence[str],
    *,
    gpu: str = "auto",
    rebuild: bool = False,
    no_build: bool = False,
    recreate: bool = False,
    open_browser: bool = False,
    engine_factory: EngineFactory = make_engine,
) -> int:
    services = project.pick(names)
    project.ensure_state_dir()
    project.sync_ca_certs()
    token = project.token()
    if not (rebuild or recreate):
        fast = fastpath.try_fast_up(project, services, gpu=gpu, token=token)
        if fast is not None:
            for service in services:
                console.ok(f"{service.name}: running, nothing changed")
            return _print_urls(fast, token, open_browser=open_browser)
    # One `up` at a time per project: a second one waits, then finds the image built.
    with locked(project.state_dir / "up.lock", timeout=1800, what="this project's labs"):
        probe = engine_factory(project, cpu=gpu == "cpu")
        info = probe.info()
        compose_config = probe.config()
        targets = resolve(project, probe, services, compose_config)
        # the tag variables must be set for the build to name the image by its hash
        name = str(compose_config.get("name", ""))
        if name != project.compose_project_name():
            raise ConfigError(
                f"compose/compose.yaml names the project {name!r}, but jlcompose expects "
                f"{project.compose_project_name()!r}; keep `name: ${{JLC_PROJECT:-jlcompose}}` there "
                "and set the name with JLC_PROJECT in .env or project_name in [tool.jlcompose].",
            )
        tags = tags_of(targets)
        engine = engine_factory(project, cpu=gpu == "cpu", tags=tags, project_name=name)
        quick_engine = functools.partial(
            engine_factory, project, cpu=gpu == "cpu", tags=tags, project_name=name
        )
        for target in targets.values():
            _build_if_needed(
                engine,
                target,
                rebuild=rebuild,
                no_build=no_build,
                quick_engine=quick_engine,
                state_dir=project.state_dir,
            )

        # an engine restarted with the NVIDIA runtime added gets a new key, so a new probe
        engine_key = "|".join((info.engine_id, info.server_version, *sorted(info.runtimes)))
        cpu = _decide_cpu(project, engine, gpu, engine_key, next(iter(targets.values())).ref)
        if cpu != (gpu == "cpu"):
            engine = engine_factory(project, cpu=cpu, tags=tags, project_name=name)
        _start(
            project,
            engine,
            targets,
            compose_config,
            token,
            cpu=cpu,
            gpu=gpu,
            recreate=recreate,
            rebuild=rebuild,
        )
    addresses = []
    for target in targets.values():
        if target.address is None:
            console.warn(f"{target.service.name} publishes no port for JupyterLab (8888).")
        else:
            addresses.append(target.address)
    return _print_urls(addresses, token, open_browser=open_browser)


def _start(
    project: Project,
    engine: Engine,
    targets: dict[str, Target],
    compose_config: dict[str, Any],
    token: str,
    *,
    cpu: bool,
    gpu: str,
    recreate: bool,
    rebuild: bool,
) -> None:
    """Start what needs starting (the images exist by now), wait for each lab, record the state."""
    names = list(targets)
    before = {c.service: c for c in engine.containers(names)}
    state = project.read_state().get("services", {})
    digests = {n: _digest(compose_config, t, cpu) for n, t in targets.items()}
    to_start, kept = [], set()
    for svc, target in targets.items():
        current = before.get(svc)
        if _keep_running(project, current, target, recreate=recreate or rebuild):
            kept.add(svc)
            continue
        if not rebuild and _unchanged(current, state.get(svc, {}), digests[svc]):
            console.ok(f"{svc}: running, nothing changed")
            continue
        if current is None:
            _clear_name_conflict(engine, str(compose_config.get("name", "")), svc)
        _check_port(target, current)
        to_start.append(svc)
    if to_start:
        if rebuild:  # asked to replace the container even where the image is the same
            for svc in to_start:
                if (c := before.get(svc)) is not None:
                    engine.remove_container(c.id)
        console.step(f"up: {', '.join(to_start)} ({'CPU' if cpu else 'GPU'})")
        engine.up(to_start)
    after = {c.service: c for c in engine.containers(names)} if to_start else before
    for svc, target in targets.items():
        _wait(project, engine, target, after.get(svc), token)
        if svc not in kept:
            _record(project, target, before.get(svc), after.get(svc), cpu=cpu, digest=digests[svc], gpu=gpu)


def _print_urls(addresses: Sequence[Address], token: str, *, open_browser: bool) -> int:
    for address in addresses:
        url = lab_url(address, token)
        console.data(url)
        if open_browser:
            webbrowser.open(url)
    return 0


def _build_if_needed(
    engine: Engine,
    target: Target,
    *,
    rebuild: bool,
    no_build: bool,
    quick_engine: Callable[..., Engine],
    state_dir: Path,
) -> None:
    labels = engine.image_labels(target.ref)
    current = labels is not None and labels.get(HASH_LABEL) == target.hash
    name = target.service.name
    if current and not rebuild:
        console.ok(f"{name}: image {target.tag} is current, no build needed")
        return
    if no_build:
        raise UsageError(
            f"{name}: the image for hash {target.tag} does not exist and --no-build was given.",
            hint=f"run `jlcompose up {name}` without --no-build.",
        )
    args = {
        **target.build_args,
        "JLC_HASH": target.hash,
        "JLC_INPUTS": target.inputs,
        "JLC_REQUIREMENTS": quickbuild.encode(target.requirements_text),
    }
    quick = (
        None
        if rebuild
        else quickbuild.plan(engine.images(target.repo), target.inputs, target.requirements_text)
    )
    if quick is not None:
        override = state_dir / f"quick-{name}.yaml"
        atomic_write(override, quickbuild.override_yaml(name, quick).encode())
        console.step(
            f"{name}: quick build of image {target.tag}: adding {', '.join(quick.added)} "
            f"to {quick.previous.rpartition(':')[2]}"
        )
        try:
            with BuildView(name) as view:
                quick_engine(extra_files=[override]).build(name, args, view)
        except BuildFailed as exc:
            console.warn(f"{name}: the quick build failed ({exc.message}); building in full")
        else:
            _check_label(engine, target)
            console.ok(f"{name}: built {target.tag} in {view.elapsed:.1f} s (quick build)")
            return
    console.step(f"{name}: building image {target.tag} (what shapes it changed)")
    with BuildView(name) as view:
        engine.build(name, args, view)
    _check_label(engine, target)
    console.ok(f"{name}: built {target.tag} in {view.elapsed:.1f} s")


def _check_label(engine: Engine, target: Target) -> None:
    labels = engine.image_labels(target.ref)
    if labels is None or labels.get(HASH_LABEL) != target.hash:
        raise BuildFailed(
            f"the build of {target.service.name} finished but image {target.ref} carries no "
            "matching hash label.",
            hint="check that compose/compose.yaml tags the image with ${JLC_..._TAG} and the "
            "Dockerfile ends with the JLC_HASH label.",
        )


def _decide_cpu(project: Project, engine: Engine, gpu: str, engine_id: str, image: str) -> bool:
    if gpu == "cpu":
        return True
    known: dict[str, Any] = project.read_state().get("gpu_support", {})
    supported = None if gpu == "gpu" else known.get(engine_id)
    fresh = supported is None
    if supported is None:
        # one throwaway container per engine; the answer is remembered in .jlcompose/state.json
        supported = engine.gpu_probe(image)
        project.update_state(lambda s: s.setdefault("gpu_support", {}).update({engine_id: supported}))
    if supported:
        return False
    if gpu == "gpu":
        raise StartFailed(
            "this Docker engine cannot give containers a GPU (no NVIDIA runtime).",
            hint="install the NVIDIA Container Toolkit and restart Docker, or drop --gpu.",
        )
    if fresh:
        console.warn("no NVIDIA runtime in this Docker engine: starting on CPU (no GPU reservation).")
    else:
        console.info("CPU mode: this Docker engine has no NVIDIA runtime (checked earlier).")
    return True


def _digest(compose_config: dict[str, Any], target: Target, cpu: bool) -> str:
    """What Compose would create for this service: its resolved config, image tag and mode."""
    svc = compose_config.get("services", {}).get(target.service.name, {})
    blob = json.dumps([svc, target.tag, cpu], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _unchanged(current: ContainerInfo | None, state: dict[str, Any], digest: str) -> bool:
    """The running container is the one the last `up` made, from the same config: skip Compose."""
    return (
        current is not None
        and current.running
        and state.get("container") == current.id
        and state.get("config_digest") == digest
    )


def _keep_running(project: Project, current: ContainerInfo | None, target: Target, *, recreate: bool) -> bool:
    """A running lab with hot-installed packages keeps running until the user asks otherwise."""
    if current is None or not current.running or recreate:
        return False
    if current.labels.get(HASH_LABEL) == target.hash:
        return False  # compose decides; nothing to replace
    state = project.read_state().get("services", {}).get(target.service.name, {})
    if state.get("hot_installed"):
        console.info(
            f"{target.service.name}: kept running with its hot-installed packages; the new image "
            f"{target.tag} is ready. `jlcompose up --recreate {target.service.name}` switches to it."
        )
        return True
    return False


def _clear_name_conflict(engine: Engine, project_name: str, service: str) -> None:
    """Remove a container squatting on Compose's name for this service (e.g. an old `docker run`)."""
    name = f"{project_name}-{service}-1"
    for c in engine.containers_named(name):
        if c.project != project_name or c.service != service:
            console.warn(f"removing stale container {name} (not made by this project's Compose files)")
            engine.remove_container(c.id)


def _check_port(target: Target, current: ContainerInfo | None) -> None:
    address = target.address
    if address is None or (current is not None and current.running):
        return  # our own running container holds the port
    if port_in_use(address.bind, address.port):
        raise StartFailed(
            f"port {address.port} on {address.bind} is already in use, so the "
            f"{target.service.name} lab cannot listen there; nothing was changed.",
            hint=f"stop what uses it, or set JLC_{target.service.name.upper()}_PORT in .env.",
        )


def _wait(
    project: Project, engine: Engine, target: Target, container: ContainerInfo | None, token: str
) -> None:
    name = target.service.name
    if container is None:
        raise StartFailed(f"the {name} container did not appear after `up`.")
    if target.address is None:
        return

    def alive() -> bool:
        found = [c for c in engine.containers([name]) if c.running]
        return bool(found)

    if not wait_ready(target.address, token, timeout=project.config.wait_timeout, still_alive=alive):
        tail = "\n".join(list(engine.logs(name, follow=False, tail=20)))
        raise StartFailed(
            f"JupyterLab in {name} did not answer on port {target.address.port} within "
            f"{project.config.wait_timeout:.0f} s.",
            hint=f"see `jlcompose logs {name}`; raise wait_timeout in [tool.jlcompose] for slow hosts.",
            detail=tail,
        )


def _record(
    project: Project,
    target: Target,
    before: ContainerInfo | None,
    after: ContainerInfo | None,
    *,
    cpu: bool,
    digest: str,
    gpu: str,
) -> None:
    recreated = before is None or after is None or before.id != after.id
    text = target.service.requirements.read_text(encoding="utf-8")
    fast = fastpath.record(project, target.service, gpu=gpu, cpu=cpu, tag=target.tag, address=target.address)

    def change(state: dict[str, Any]) -> None:
        svc = state.setdefault("services", {}).setdefault(target.service.name, {})
        svc["mode"] = "cpu" if cpu else "gpu"
        svc["container"] = after.id if after else None
        svc["config_digest"] = digest
        svc.update(fast)
        if recreated:
            svc["hot_installed"] = []
            svc["removed"] = []
            svc["applied"] = text
        svc.setdefault("applied", text)

    project.update_state(change)
