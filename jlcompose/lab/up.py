"""`up`: build only what changed, then start (or keep) the labs and print their URLs."""

from __future__ import annotations

import webbrowser
from collections.abc import Sequence

from jlcompose import console
from jlcompose.core import composemodel
from jlcompose.core.composemodel import Address
from jlcompose.engine.api import Engine
from jlcompose.errors import ConfigError
from jlcompose.lab import build, fastpath, pull, start
from jlcompose.lab.http import lab_url
from jlcompose.lab.targets import collect_inputs, resolve, tags_of
from jlcompose.project import Project

UP_LOCK_WAIT_S = 1800  # a second `up` waits for the first one's build, then finds the image


def up(
    project: Project,
    engine: Engine,
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
    info = engine.info()  # before anything is written: without an engine nothing changes
    # Compose checks .env and the compose files here, also before anything is written
    model = _model(project, engine, gpu)
    _check_unpin(project, model, chosen)
    with project.state.lock("up", timeout=UP_LOCK_WAIT_S, what="this project's labs"):
        if project.state.read_token() is None:  # the first `up`: the config again, with its token
            token = project.state.token()
            model = _model(project, engine, gpu)
        else:
            token = project.state.token()
        if context_stale:
            build.sync_context(project)
            inputs = {s.name: collect_inputs(project, s) for s in services}
        bases = pull.ensure_bases(engine, model, chosen, pull=not no_build)  # --no-build pulls nothing
        targets = resolve(engine, model, inputs.values(), bases)
        tags = tags_of(targets)
        stack = project.stack(cpu=gpu == "cpu", tags=tags)
        for target in targets.values():
            build.build_if_needed(project, engine, stack, target, rebuild=rebuild, no_build=no_build)
        first = next(iter(targets.values()))
        cpu = start.decide_cpu(project, engine, gpu, info.key, first.ref)
        if cpu != (gpu == "cpu"):
            stack = project.stack(cpu=cpu, tags=tags)
        start.start(
            project,
            engine,
            stack=stack,
            targets=targets,
            model=model,
            token=token,
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


def _model(project: Project, engine: Engine, gpu: str) -> composemodel.ComposeModel:
    stack = project.stack(cpu=gpu == "cpu")
    model = composemodel.parse(engine.config(stack))
    if model.name != stack.project_name:
        raise ConfigError(
            f"compose/compose.yaml names the project {model.name!r}, but jlcompose expects "
            f"{stack.project_name!r}; keep `name: ${{JLC_PROJECT:-jlcompose}}` there "
            "and set the name with JLC_PROJECT in .env or project_name in [tool.jlcompose].",
        )
    return model


def _check_unpin(project: Project, model: composemodel.ComposeModel, names: Sequence[str]) -> None:
    if not project.config.unpin:
        return
    for name in names:
        if "JLC_UNPIN" not in model.service(name).build_args:
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
