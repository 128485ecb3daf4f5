"""Starting labs whose images exist: GPU or CPU, what to (re)create, readiness, the record."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping

from jlcompose import console
from jlcompose.core.composemodel import ComposeModel
from jlcompose.engine.api import ContainerInfo, Engine, Stack
from jlcompose.errors import GpuUnavailable, PortTaken, StartFailed
from jlcompose.lab import fastpath
from jlcompose.lab.build import HASH_LABEL
from jlcompose.lab.http import port_in_use, wait_ready
from jlcompose.lab.targets import Target
from jlcompose.lab.waiting import WaitView
from jlcompose.project import Project
from jlcompose.state import ServiceState, State


def decide_cpu(project: Project, engine: Engine, gpu: str, engine_key: str, image: str) -> bool:
    """Whether to start on CPU: asked for, or (auto) this engine has no NVIDIA runtime."""
    if gpu == "cpu":
        return True
    known = project.state.read().gpu_support
    supported = None if gpu == "gpu" else known.get(engine_key)
    fresh = supported is None
    if supported is None:
        # one throwaway container per engine; the answer is remembered in .jlcompose/state.json
        what = f"checking whether this Docker engine can give containers a GPU (a throwaway {image})"
        with WaitView(what) as probe:
            answer = engine.gpu_probe(image)
        console.info(f"GPU probe: {'GPUs given' if answer else 'no GPU'}, after {probe.elapsed:.1f} s")
        project.state.update(lambda s: s.gpu_support.update({engine_key: answer}))
        supported = answer
    if supported:
        return False
    if gpu == "gpu":
        raise GpuUnavailable(
            "this Docker engine cannot give containers a GPU (no NVIDIA runtime).",
            hint="install the NVIDIA Container Toolkit and restart Docker, or drop --gpu.",
        )
    if fresh:
        console.warn("no NVIDIA runtime in this Docker engine: starting on CPU (no GPU reservation).")
    else:
        console.info("CPU mode: this Docker engine has no NVIDIA runtime (checked earlier).")
    return True


def config_digest(model: ComposeModel, target: Target, cpu: bool) -> str:
    """What Compose would create for this service: its resolved config, image tag and mode."""
    svc = model.services[target.service.name].raw
    blob = json.dumps([svc, target.tag, cpu], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def start(
    project: Project,
    engine: Engine,
    *,
    stack: Stack,
    targets: Mapping[str, Target],
    model: ComposeModel,
    token: str,
    cpu: bool,
    gpu: str,
    recreate: bool,
    rebuild: bool,
    on_started: Callable[[Mapping[str, ContainerInfo]], None] | None = None,
    check_ports: bool = True,
) -> None:
    """Start what needs starting, wait for each lab, record what was started.

    `on_started` sees the containers once they exist, before the wait (a remote engine's link
    starts there); `check_ports`: whether the labs' ports are this machine's to check.
    """
    names = list(targets)
    before = {c.service: c for c in engine.containers(stack, names)}
    state = project.state.read()
    digests = {n: config_digest(model, t, cpu) for n, t in targets.items()}
    to_start, kept = [], set()
    for svc, target in targets.items():
        current = before.get(svc)
        if _keep_running(current, target, state.peek(svc), recreate=recreate or rebuild):
            kept.add(svc)
            continue
        if not rebuild and _unchanged(current, state.peek(svc), digests[svc]):
            console.ok(f"{svc}: running, nothing changed")
            continue
        if current is None:
            _clear_name_conflict(engine, model.name, svc)
        if check_ports:
            _check_port(target, current)
        to_start.append(svc)
    if to_start:
        if rebuild:  # asked to replace the container even where the image is the same
            for svc in to_start:
                if (c := before.get(svc)) is not None:
                    engine.remove_container(c.id)
        console.step(f"up: {', '.join(to_start)} ({'CPU' if cpu else 'GPU'})")
        engine.up(stack, to_start)
    after = {c.service: c for c in engine.containers(stack, names)} if to_start else before
    if on_started is not None:
        on_started(after)
    for svc, target in targets.items():
        _wait(project, engine, stack, target, container=after.get(svc), token=token)
        if svc not in kept:
            _remember_start(
                project, target, before.get(svc), after.get(svc), cpu=cpu, gpu=gpu, digest=digests[svc]
            )


def _unchanged(current: ContainerInfo | None, state: ServiceState, digest: str) -> bool:
    """The running container is the one the last `up` made, from the same config: skip Compose."""
    return (
        current is not None
        and current.running
        and state.container == current.id
        and state.config_digest == digest
    )


def _keep_running(
    current: ContainerInfo | None, target: Target, state: ServiceState, *, recreate: bool
) -> bool:
    """A running lab with hot-installed packages keeps running until the user asks otherwise."""
    if current is None or not current.running or recreate:
        return False
    if current.labels.get(HASH_LABEL) == target.hash:
        return False  # compose decides; nothing to replace
    if state.hot_installed:
        name = target.service.name
        console.info(
            f"{name}: kept running with its hot-installed packages; the new image "
            f"{target.tag} is ready. `jlcompose up --recreate {name}` switches to it."
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
        raise PortTaken(
            f"port {address.port} on {address.bind} is already in use, so the "
            f"{target.service.name} lab cannot listen there; nothing was changed.",
            hint=f"stop what uses it, or set {target.service.variable('PORT')} in .env.",
        )


def _wait(
    project: Project,
    engine: Engine,
    stack: Stack,
    target: Target,
    *,
    container: ContainerInfo | None,
    token: str,
) -> None:
    name = target.service.name
    if container is None:
        raise StartFailed(f"the {name} container did not appear after `up`.")
    if target.address is None:
        return

    def alive() -> bool:
        return any(c.running for c in engine.containers(stack, [name]))

    timeout = project.config.wait_timeout
    address = target.address
    # a lab that answers within a second (one kept running, say) needs no progress line
    started = time.monotonic()
    if wait_ready(address, token, timeout=min(1.0, timeout), still_alive=alive):
        return
    awaited = f"{name}: waiting for JupyterLab to answer on http://{address.host}:{address.port}"
    with WaitView(awaited, limit=timeout):
        left = timeout - (time.monotonic() - started)
        ready = left > 0 and wait_ready(address, token, timeout=left, still_alive=alive)
    if ready:
        console.ok(f"{name}: JupyterLab answered after {time.monotonic() - started:.1f} s")
    else:
        tail: list[str] = []
        engine.logs(stack, name, follow=False, tail=20, on_line=tail.append)
        raise StartFailed(
            f"JupyterLab in {name} did not answer on port {target.address.port} within {timeout:.0f} s.",
            hint=f"see `jlcompose logs {name}`; raise wait_timeout in [tool.jlcompose] for slow hosts.",
            detail="\n".join(tail),
        )


def _remember_start(
    project: Project,
    target: Target,
    before: ContainerInfo | None,
    after: ContainerInfo | None,
    *,
    cpu: bool,
    gpu: str,
    digest: str,
) -> None:
    """Record the started lab: its container, config digest, fast-path key and applied requirements."""
    recreated = before is None or after is None or before.id != after.id
    text = target.inputs.requirements_text
    key = fastpath.fast_key(project, target.inputs, gpu=gpu, cpu=cpu, tag=target.tag)
    address = target.address

    def change(state: State) -> None:
        svc = state.service(target.service.name)
        svc.mode = "cpu" if cpu else "gpu"
        svc.container = after.id if after else None
        svc.config_digest = digest
        svc.fast_key = key
        svc.tag = target.tag
        svc.address = (address.host, address.bind, address.port) if address else None
        if recreated:
            svc.hot_installed = []
            svc.removed = []
            svc.applied = text
        if svc.applied is None:
            svc.applied = text

    project.state.update(change)
