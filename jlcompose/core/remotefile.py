"""Pure: the Compose override that puts a lab on a remote engine (`.jlcompose/remote.yaml`).

A remote daemon resolves a bind mount on its own machine, so `..:/workspace` would show the lab
the server's folder of that name (empty, or someone else's). The override swaps each bind of
the project folder for the volume `workspace` (per project, like the caches; `nocopy`, so the
image's own /workspace does not leak in), which `jlcompose sync` keeps in step with the folder.
Over SSH the lab's port is published on the server's loopback at a port Docker picks (nothing
to collide with on a shared machine), and jlcompose forwards a local port to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jlcompose.core.composemodel import LAB_PORT, ComposeModel

VOLUME = "workspace"


@dataclass(frozen=True)
class Override:
    text: str
    stray_binds: tuple[tuple[str, str], ...]  # (service, host path) bind mounts inside the project


def _flow(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(", ", ": "))


def override(model: ComposeModel, project_root: str, *, forward: bool) -> Override:
    root = project_root.rstrip("/")
    lines = [
        "# written by jlcompose for a remote Docker engine (docs/remote.md); made again by each `up`",
        "services:",
    ]
    stray: list[tuple[str, str]] = []
    for name, svc in sorted(model.services.items()):
        body: list[str] = []
        volumes = []
        for vol in svc.raw.get("volumes") or []:
            if not isinstance(vol, dict) or vol.get("type") != "bind":
                continue
            source = str(vol.get("source", "")).rstrip("/")
            if source == root:
                volumes.append(
                    {
                        "type": "volume",
                        "source": VOLUME,
                        "target": vol.get("target"),
                        "volume": {"nocopy": True},
                    }
                )
            elif source.startswith(root + "/"):
                stray.append((name, source))
        if volumes:  # Compose merges volumes by their target: these replace the binds
            body += ["    volumes:", *(f"      - {_flow(v)}" for v in volumes)]
        ports = [p for p in svc.raw.get("ports") or [] if isinstance(p, dict)]
        if forward and any(int(p.get("target", 0)) == LAB_PORT for p in ports):
            body.append("    ports: !override")
            for port in ports:
                if int(port.get("target", 0)) == LAB_PORT:
                    port = {
                        "target": LAB_PORT,
                        "host_ip": "127.0.0.1",
                        "protocol": port.get("protocol", "tcp"),
                    }
                body.append(f"      - {_flow(port)}")
        if body:
            lines += [f"  {name}:", *body]
    lines += ["volumes:", f"  {VOLUME}: {{}}", ""]
    return Override("\n".join(lines), tuple(stray))
