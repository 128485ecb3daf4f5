"""doctor: every check a GPU lab needs, gathered from the host, the engine and the project."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from jlcompose import console
from jlcompose.core import composemodel
from jlcompose.core.composemodel import ComposeModel, service_variable
from jlcompose.core.envfile import read_env_file
from jlcompose.engine.api import Engine, EngineInfo
from jlcompose.errors import ExitCode, JlcomposeError, RegistryError
from jlcompose.gpu import checks, driver
from jlcompose.gpu.checks import CheckResult
from jlcompose.gpu.nvml import GpuInfo, host_gpus
from jlcompose.lab.http import port_in_use
from jlcompose.lab.ports import holder
from jlcompose.project import Project

DEFAULT_PORTS = {"torch": 8888, "tf": 8889}
DOCKER_ROOT = Path("/var/lib/docker")
_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]"}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _disk_free(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


@dataclass
class Host:
    """The machine's side of doctor; command tests replace each callable."""

    read: Callable[[str], str | None] = _read
    gpus: Callable[[], tuple[list[GpuInfo], str]] = host_gpus
    disk_free: Callable[[str], int | None] = _disk_free
    port_in_use: Callable[[str, int], bool] = port_in_use
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


def _engine_info(engine: Engine) -> tuple[EngineInfo | None, JlcomposeError | None]:
    try:
        return engine.info(), None
    except JlcomposeError as exc:
        return None, exc


def _compose_model(project: Project, engine: Engine) -> ComposeModel | None:
    try:
        return composemodel.parse(engine.config(project.stack(cpu=False)))
    except JlcomposeError:
        return None


def _images(project: Project, engine: Engine, model: ComposeModel | None) -> list[tuple[str, str, str]]:
    """(service, base image ref, local lab image ref or "") per service."""
    out = []
    for name in sorted(project.services):
        base, lab = "", ""
        try:
            svc = model.service(name) if model is not None else None
            base = svc.checked_build_args().get("BASE_IMAGE", "") if svc else ""
            found = engine.images(svc.image_repo()) if svc else []
        except JlcomposeError:
            found = []
        if found:
            lab = sorted(i.ref for i in found)[-1]
        out.append((name, base, lab))
    return out


def _ports(
    project: Project, model: ComposeModel | None, environ: dict[str, str]
) -> list[tuple[str, str, int]]:
    """(service, host ip, host port) from the resolved compose config, else .env and defaults."""
    out = []
    if model is not None and model.services:
        for name in sorted(project.services):
            svc = model.services.get(name)
            if svc is not None and svc.address is not None:
                out.append((name, svc.address.bind, svc.address.port))
        return out
    # the shell beats .env, as in Compose
    dotenv = {**read_env_file(project.root / ".env", environ).values, **environ}
    bind = dotenv.get("JLC_BIND", "127.0.0.1")
    for name in sorted(project.services):
        value = dotenv.get(service_variable(name, "PORT"), str(DEFAULT_PORTS.get(name, "")))
        if value.isdigit():
            out.append((name, bind, int(value)))
    return out


def _holder(engine: Engine, port: int) -> str:
    try:
        return holder(engine, port)
    except JlcomposeError:
        return "another program"


def _driver_row(engine: Engine, base: str, lab: str, gpus: list[GpuInfo]) -> CheckResult:
    found = engine.image(base)
    if found is None and lab:  # the lab image inherits the base image's ENV
        found = engine.image(lab)
    if found is not None:
        return driver.check_driver_for_image(base, dict(found.env), gpus)
    try:  # not pulled yet: the registry's image config holds the same ENV, without the layers
        remote = engine.remote_image(base)
    except RegistryError as exc:
        return driver.check_driver_unread(base, exc)
    return driver.check_driver_for_image(base, dict(remote.env), gpus, source="the registry")


def gather(project: Project | None, engine: Engine, host: Host) -> list[CheckResult]:
    info, error = _engine_info(engine)
    results = checks.check_engine(info, error)
    gpus, source = host.gpus()
    results.append(checks.check_host_gpus(gpus, source))

    model = _compose_model(project, engine) if project is not None and info is not None else None
    images = _images(project, engine, model) if project is not None and info else []
    if info is not None:
        probe_image = next((lab for _s, _b, lab in images if lab), None)
        if probe_image is None:  # a base image already pulled carries the same GPU needs
            probe_image = next((b for _s, b, _l in images if b and engine.image(b) is not None), None)
        probe: bool | None = None
        probe_error = None
        if probe_image is not None:
            try:
                probe = engine.gpu_probe(probe_image)
            except JlcomposeError as exc:
                probe_error = exc.message.rstrip(".")
        results.append(checks.check_engine_gpu(probe_image, probe, bool(gpus), probe_error))
    seen: set[str] = set()
    for _service, base, lab in images:
        if not base or base in seen:
            continue  # two labs on one base image need one check
        seen.add(base)
        results.append(_driver_row(engine, base, lab, gpus))

    root = str(project.root) if project is not None else os.getcwd()
    results.append(checks.check_wsl(host.read("/proc/version"), root))
    data_root = str(getattr(info, "docker_root_dir", "") or "")
    if not data_root and host.disk_free(str(DOCKER_ROOT)) is not None:
        data_root = str(DOCKER_ROOT)
    where = data_root or root
    results.append(checks.check_disk(host.disk_free(where), where))

    if project is not None:
        running = set()
        if info is not None:
            try:
                running = {c.service for c in engine.containers(project.stack(cpu=False)) if c.running}
            except JlcomposeError:
                pass
        for service, ip, port in sorted(_ports(project, model, host.environ), key=lambda p: p[2]):
            in_use = host.port_in_use(ip, port)
            own = service in running
            who = _holder(engine, port) if in_use and not own and info is not None else "another program"
            results.append(checks.check_port(service, ip, port, in_use, own, holder=who))
    results.append(
        checks.check_inotify(
            host.read("/proc/sys/fs/inotify/max_user_watches"),
            host.read("/proc/sys/fs/inotify/max_user_instances"),
        )
    )
    return results


def render(results: list[CheckResult]) -> None:
    table = console.table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("", "check", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(_MARK[r.status], escape(r.name), escape(r.detail), escape(r.fix))
    console.out.print(table)


def doctor(project: Project | None, engine: Engine, *, as_json: bool, host: Host | None = None) -> int:
    """Run every check; exit 1 when one fails."""
    results = gather(project, engine, host or Host())
    bad = checks.failed(results)
    if as_json:
        doc = {"ok": not bad, "checks": [r.to_json() for r in results]}
        console.data(json.dumps(doc, indent=2))
    else:
        render(results)
        fails = sum(r.status == "fail" for r in results)
        warns = sum(r.status == "warn" for r in results)
        if fails:
            console.error(f"{fails} check(s) failed, {warns} warning(s); see the fix column.")
        elif warns:
            console.warn(f"all checks passed with {warns} warning(s).")
        else:
            console.ok("all checks passed.")
    return int(ExitCode.FAILURE if bad else ExitCode.OK)
