"""Which engine the docker CLI will talk to, read as the CLI reads it: no process, no daemon.

DOCKER_HOST wins; else DOCKER_CONTEXT, else `currentContext` in the CLI's config.json
($DOCKER_CONFIG or ~/.docker); a context's endpoint is in the CLI's context store
(contexts/meta/<sha256 of the name>/meta.json). Where the store cannot be read this says
None, and the engine asks `docker context inspect` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jlcompose.core.endpoint import LOCAL_DEFAULT, Endpoint, parse_host


def config_dir(environ: Mapping[str, str]) -> Path:
    if value := environ.get("DOCKER_CONFIG"):
        return Path(value)
    return Path(environ.get("HOME") or Path.home()) / ".docker"


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def context_name(environ: Mapping[str, str]) -> str | None:
    """The Docker context in use, or None for the CLI's default one."""
    name = environ.get("DOCKER_CONTEXT") or _json(config_dir(environ) / "config.json").get("currentContext")
    return str(name) if name and name != "default" else None


def current(environ: Mapping[str, str] | None = None) -> Endpoint | None:
    """The engine's endpoint from the environment and the CLI's files; None: ask the CLI."""
    env = os.environ if environ is None else environ
    if host := env.get("DOCKER_HOST"):
        return parse_host(host)
    name = context_name(env)
    if name is None:
        return parse_host(LOCAL_DEFAULT)
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = _json(config_dir(env) / "contexts" / "meta" / digest / "meta.json")
    endpoints = meta.get("Endpoints")
    docker = endpoints.get("docker") if isinstance(endpoints, dict) else None
    host = docker.get("Host") if isinstance(docker, dict) else None
    return parse_host(str(host), context=name) if host else None
