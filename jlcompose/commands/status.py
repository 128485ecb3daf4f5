"""`jlcompose status`: what runs, on GPU or CPU, and whether its image is current."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from jlcompose import console
from jlcompose.background import watcher_pid
from jlcompose.compose import Engine
from jlcompose.lab import lab_url
from jlcompose.project import HASH_LABEL, Project, make_engine, open_project
from jlcompose.targets import resolve

HELP = "show each lab: state, GPU or CPU, image current or stale, URL"
DESCRIPTION = """\
One row per service: whether it runs, on GPU or CPU, whether its image matches the
current requirements (current / stale / hot-installed packages not yet in the image),
and its URL. --json prints the same for scripts.

examples:
  jlcompose status
  jlcompose status --json | jq '.services[] | select(.state == "running")'
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    return status(project, make_engine(project), args.services, as_json=args.json)


def collect(project: Project, engine: Engine, names: Sequence[str]) -> dict[str, Any]:
    services = project.pick(names) if names else list(project.services.values())
    compose_config = engine.config()
    targets = resolve(project, engine, services, compose_config)
    containers = {c.service: c for c in engine.containers([s.name for s in services])}
    state = project.read_state().get("services", {})
    token = project.token()
    rows = []
    for name, target in targets.items():
        c = containers.get(name)
        svc_state = state.get(name, {})
        hot = list(svc_state.get("hot_installed") or [])
        image_hash = c.labels.get(HASH_LABEL) if c else None
        if c is None:
            image = "current" if engine.image_labels(target.ref) is not None else "not built"
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
                "image": image,
                "image_tag": target.tag,
                "running_tag": (image_hash or "")[:12] or None,
                "hot_installed": hot,
                "url": lab_url(target.address, token) if running and target.address else None,
            }
        )
    pid = watcher_pid(project)
    return {"project": compose_config.get("name"), "services": rows, "watcher_pid": pid}


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
        table.add_row(row["service"], state, row["mode"] or "-", image)
    console.out.print(table)
    # URLs below the table, one per line, so they stay whole and copyable at any width
    for row in report["services"]:
        if row["url"]:
            console.data(f"{row['service']}: {row['url']}")
    pid = report["watcher_pid"]
    console.info(f"watcher: running (pid {pid})" if pid else "watcher: not running")
    return 0
