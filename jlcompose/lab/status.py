"""What runs, on GPU or CPU, whether each image is current, and each lab's URL."""

from __future__ import annotations

import json
import webbrowser
from collections.abc import Sequence
from typing import Any

from jlcompose import console
from jlcompose.core import composemodel
from jlcompose.core.composemodel import Address
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import JlcomposeError, LabNotRunning
from jlcompose.lab import link, remote
from jlcompose.lab.background import watcher_pid
from jlcompose.lab.build import HASH_LABEL
from jlcompose.lab.http import lab_url
from jlcompose.lab.targets import collect_inputs, resolve
from jlcompose.project import Project

CACHE = "/home/lab/.cache"  # the labs' cache volume (compose/compose.yaml)


def collect(project: Project, engine: Engine, names: Sequence[str]) -> dict[str, Any]:
    services = project.pick(names) if names else list(project.services.values())
    stack = project.stack(cpu=False)
    containers = {c.service: c for c in engine.containers(stack, [s.name for s in services])}
    model = composemodel.parse(engine.config(stack))
    endpoint = engine.endpoint()
    targets = remote.addressed(
        endpoint, resolve(engine, model, [collect_inputs(project, s) for s in services])
    )
    state = project.state.read()
    token = project.state.read_token()
    rows = []
    for name, target in targets.items():
        c = containers.get(name)
        image_hash = c.labels.get(HASH_LABEL) if c else None
        if c is None:
            image = "current" if engine.image(target.ref) is not None else "not built"
        elif image_hash == target.hash:
            image = "current"
        else:
            image = "stale"
        running = c is not None and c.running
        rows.append(
            {
                "service": name,
                "state": c.state if c else "not created",
                "health": c.health if c else None,
                "mode": ("gpu" if c.gpu else "cpu") if c else None,
                "gpus": (c.gpus or None) if c and c.gpu else None,
                "image": image,
                "image_tag": target.tag,
                "running_tag": (image_hash or "")[:12] or None,
                "hot_installed": list(state.peek(name).hot_installed),
                "url": lab_url(target.address, token) if running and target.address and token else None,
            }
        )
    up = [name for name, c in containers.items() if c.running]
    caches = {"volume": f"{model.name}_cache", "path": CACHE, "bytes": _cache_size(engine, stack, up)}
    where: dict[str, Any] = {"url": endpoint.url, "remote": endpoint.remote, "context": endpoint.context}
    if endpoint.remote:
        where["workspace_volume"] = remote.workspace_volume(model.name)
        where["link"] = link.status(project)
    return {
        "project": model.name,
        "engine": where,
        "services": rows,
        "watcher_pid": watcher_pid(project),
        "caches": caches,
    }


def _engine_line(where: dict[str, Any]) -> str:
    shown = where["url"] + (f" (Docker context {where['context']})" if where["context"] else "")
    if not where["remote"]:
        return f"engine: {shown} (local: the labs bind-mount this folder)"
    report = where.get("link")
    if report is None:
        held = "link not running (`jlcompose up` starts it)"
    else:
        forwards = ", ".join(f"{b}:{p} -> server port {r}" for _s, b, p, r in report.get("forwards") or [])
        held = f"link {report.get('state', '?')} (PID {report['pid']}{'; ' + forwards if forwards else ''})"
    return f"engine: {shown} (remote: project synced with volume {where['workspace_volume']}; {held})"


def _cache_size(engine: Engine, stack: Stack, running: Sequence[str]) -> int | None:
    """How much the labs' cache volume holds, asked of a running lab (None when none runs)."""
    if not running:
        return None
    out: list[str] = []
    try:
        rc = engine.exec(stack, running[0], ["du", "-sk", CACHE], user="0", on_line=out.append)
    except JlcomposeError:
        return None
    first = out[0].split() if out else []
    return int(first[0]) * 1024 if rc == 0 and first and first[0].isdigit() else None


def status(project: Project, engine: Engine, names: Sequence[str], *, as_json: bool = False) -> int:
    report = collect(project, engine, names)
    if as_json:
        console.data(json.dumps(report, indent=2))
        return 0
    table = console.table(title=f"jlcompose project {report['project']}")
    for col in ("service", "state", "mode", "image"):
        table.add_column(col)
    for row in report["services"]:
        image = row["image"]
        if row["hot_installed"]:
            image += f" (+ hot-installed: {', '.join(row['hot_installed'])})"
        state = row["state"] + (f" ({row['health']})" if row["health"] else "")
        mode = row["mode"] or "-"
        if row["gpus"]:
            mode += f" ({row['gpus']})"
        table.add_row(row["service"], state, mode, image)
    console.out.print(table)
    # URLs below the table, one per line, so they stay whole and copyable at any width
    for row in report["services"]:
        if row["url"]:
            console.data(f"{row['service']}: {row['url']}")
    console.info(_engine_line(report["engine"]))
    pid = report["watcher_pid"]
    console.info(f"watcher: running (pid {pid})" if pid else "watcher: not running")
    caches = report["caches"]
    size = caches["bytes"]
    held = f"{size / 1e9:.2f} GB" if size is not None else "size shown while a lab runs"
    console.info(
        f"caches: {caches['path']} in volume {caches['volume']} ({held}); `down --volumes` removes them"
    )
    return 0


def url(
    project: Project, engine: Engine, name: str | None, *, open_browser: bool = False, as_json: bool = False
) -> int:
    service = project.pick([name] if name else [])[0]
    stack = project.stack(cpu=False)
    if not any(c.running for c in engine.containers(stack, [service.name])):
        raise LabNotRunning(service.name)
    address = composemodel.parse(engine.config(stack)).service(service.name).address
    endpoint = engine.endpoint()
    if address is not None and endpoint.kind == "tcp":  # no forward over TCP: the server itself
        address = Address(endpoint.host, address.bind, address.port)
    token = project.state.read_token()
    if address is None:
        raise JlcomposeError(f"{service.name} publishes no port for JupyterLab (8888).")
    if token is None:
        raise JlcomposeError(
            f"the {service.name} lab was not started by jlcompose (no token in .jlcompose/).",
            hint=f"run `jlcompose up {service.name}`, or find the URL in `jlcompose logs {service.name}`.",
        )
    link = lab_url(address, token)
    if as_json:
        console.data(json.dumps({"service": service.name, "url": link}))
    else:
        console.data(link)
    if open_browser:
        webbrowser.open(link)
    return 0
