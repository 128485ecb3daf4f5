"""`up`: build only what changed, then start (or keep) the labs and print their URLs."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from jlcompose import console
from jlcompose.core import composemodel, gpus
from jlcompose.core.composemodel import Address
from jlcompose.engine.api import Engine
from jlcompose.errors import ConfigError
from jlcompose.files import atomic_write
from jlcompose.lab import build, fastpath, ports, pull, remote, start
from jlcompose.lab.http import lab_url
from jlcompose.lab.targets import collect_inputs, resolve, tags_of
from jlcompose.project import Project

UP_LOCK_WAIT_S = 1800  # a second `up` waits for the first one's build, then finds the image


def up(
    project: Project,
    engine: Engine | Callable[[], Engine],
    names: Sequence[str],
    *,
    gpu: str = "auto",
    rebuild: bool = False,
    no_build: bool = False,
    recreate: bool = False,
    open_browser: bool = False,
) -> int:
    services = project.pick(names)
    chosen = [s.name for s in services]
    context_stale = build.context_stale(project)
    inputs = {s.name: collect_inputs(project, s) for s in services}
    token = project.state.read_token()
    if token is not None and not (rebuild or recreate or context_stale):
        fast = fastpath.try_fast_up(project, inputs, chosen, gpu=gpu, token=token)
        if fast is not None:
            for name in chosen:
                console.ok(f"{name}: running, nothing changed")
            return _print_urls(fast, token, open_browser=open_browser)
    if callable(engine):  # opened only now: the fast path above needs none
        engine = engine()
    info = engine.info()  # before anything is written: without an engine nothing changes
    requests = project.gpu_requests(chosen)  # JLC_<SVC>_GPUS, checked before anything is written
    gpu_files = [] if gpu == "cpu" or not requests else [_gpu_override(project, requests)]
    # Compose checks .env and the compose files here, also before anything is written
    model = _model(project, engine, gpu, gpu_files)
    _check_model(project, model, chosen)
    endpoint = engine.endpoint()
    # on a remote engine the project reaches the lab through a volume (lab/remote.py)
    remote_files = [f for f in [remote.prepare(project, engine, model)] if f is not None]
    # over SSH the ports are this machine's (the forwards' local ends); over TCP the server's
    local_ports = endpoint.kind != "tcp"
    with project.state.lock("up", timeout=UP_LOCK_WAIT_S, what="this project's labs"):
        # what runs is looked at only now: another `up` may have started the lab meanwhile
        stack = project.stack(cpu=gpu == "cpu")
        moved = local_ports and ports.move_taken(project, engine, stack, model, chosen)
        if project.state.read_token() is None:  # the first `up`: the config again, with its token
            token = project.state.token()
            model = _model(project, engine, gpu, gpu_files)
        else:
            token = project.state.token()
            if moved:
                model = _model(project, engine, gpu, gpu_files)  # with the new ports
        if context_stale:
            build.sync_context(project)
            inputs = {s.name: collect_inputs(project, s) for s in services}
        bases = pull.ensure_bases(engine, model, chosen, pull=not no_build)  # --no-build pulls nothing
        targets = remote.addressed(endpoint, resolve(engine, model, inputs.values(), bases))
        tags = tags_of(targets)
        stack = project.stack(cpu=gpu == "cpu", tags=tags, extra_files=[*gpu_files, *remote_files])
        for target in targets.values():
            build.build_if_needed(project, engine, stack, target, rebuild=rebuild, no_build=no_build)
        first = next(iter(targets.values()))
        cpu = start.decide_cpu(project, engine, gpu, info.key, first.ref)
        if cpu != (gpu == "cpu"):  # no GPU after all: the CPU override, and no GPU selection
            gpu_files = []
            stack = project.stack(cpu=cpu, tags=tags, extra_files=remote_files)
        run_model = model
        if remote_files:  # what Compose creates there: the volume instead of the bind
            run_model = _model(project, engine, "cpu" if cpu else gpu, [*gpu_files, *remote_files])
            remote.sync_before_start(project, engine, stack, first.service.name)
        start.start(
            project,
            engine,
            stack=stack,
            targets=targets,
            model=run_model,
            token=token,
            cpu=cpu,
            gpu=gpu,
            recreate=recreate,
            rebuild=rebuild,
            on_started=(lambda after: remote.connect(project, engine, targets, after))
            if remote_files
            else None,
            check_ports=local_ports,
        )
    addresses = []
    for target in targets.values():
        if target.address is None:
            console.warn(f"{target.service.name} publishes no port for JupyterLab (8888).")
        else:
            addresses.append(target.address)
    return _print_urls(addresses, token, open_browser=open_browser)


def _gpu_override(project: Project, requests: Mapping[str, int | list[str]]) -> Path:
    path = project.state.path / "gpus.yaml"
    text = gpus.override_yaml(requests)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        project.state.ensure()
        atomic_write(path, text.encode())
    return path


def _model(project: Project, engine: Engine, gpu: str, extra: Sequence[Path]) -> composemodel.ComposeModel:
    stack = project.stack(cpu=gpu == "cpu", extra_files=extra)
    model = composemodel.parse(engine.config(stack))
    if model.name != stack.project_name:
        raise ConfigError(
            f"compose/compose.yaml names the project {model.name!r}, but jlcompose expects "
            f"{stack.project_name!r}; keep `name: ${{JLC_PROJECT:-jlcompose}}` there "
            "and set the name with JLC_PROJECT in .env or project_name in [tool.jlcompose].",
        )
    return model


def _check_model(project: Project, model: composemodel.ComposeModel, names: Sequence[str]) -> None:
    """What resolve() would refuse, refused before anything is written (bad base image, tag, unpin)."""
    for name in names:
        svc = model.service(name)
        svc.image_repo()
        svc.checked_build_args()
        if project.config.unpin and "JLC_UNPIN" not in svc.build_args:
            raise ConfigError(
                f"`unpin` is set, but compose/compose.yaml passes no JLC_UNPIN to the build of "
                f"{name}, so the pins would stay.",
                hint="add `JLC_UNPIN: ${JLC_UNPIN:-}` under its build.args (and the matching "
                "step of docker_files/Dockerfile); `jlcompose init --force` writes current files.",
            )


def _print_urls(addresses: Sequence[Address], token: str, *, open_browser: bool) -> int:
    for address in addresses:
        url = lab_url(address, token)
        console.data(url)
        if open_browser:
            webbrowser.open(url)
    return 0
