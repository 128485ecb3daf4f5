"""`up` with nothing changed: recognise it from files alone, and check the lab answers.

Everything Compose would do depends on the compose files, `.env`, the variables they refer to
and the files that shape the image. When all of those hash to what the last successful `up`
recorded, and JupyterLab answers with the token, there is nothing to build or start, and no
Docker call (nor python-on-whales import) is needed: `up` costs about what Python's start does.
A base image re-tagged locally under the same name is the one change this cannot see;
`jlcompose up --rebuild` covers it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence

from jlcompose.core.composemodel import Address
from jlcompose.errors import JlcomposeError
from jlcompose.lab.http import status_code
from jlcompose.lab.targets import ServiceInputs
from jlcompose.project import Project

SCHEMA = b"jlcompose-fast-key/1"
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# variables that change what Compose talks to or how it reads the files
_ALWAYS = ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES", "DOCKER_HOST", "DOCKER_CONTEXT")


def fast_key(project: Project, inputs: ServiceInputs, *, gpu: str, cpu: bool, tag: str) -> str:
    """A digest of every input of `docker compose up` for this service, read from files only."""
    h = hashlib.sha256(SCHEMA)
    files = project.compose_files(cpu=cpu) + project.env_files()
    # and what jlcompose itself reads: the GPU selection (lab/up.py writes it as an override)
    names: set[str] = {*_ALWAYS, inputs.service.variable("GPUS")}
    for path in files:
        data = path.read_bytes()
        h.update(b"\0f\0" + str(path).encode() + b"\0" + hashlib.sha256(data).digest())
        names.update(_VAR.findall(data.decode("utf-8", errors="replace")))
    env: dict[str, str] = {**os.environ, **project.variables({inputs.service.name: tag})}
    for name in sorted(names):
        h.update(b"\0v\0" + name.encode() + b"=" + env.get(name, "\0unset").encode())
    for rel, content in inputs.files:
        h.update(b"\0i\0" + rel.encode() + b"\0" + hashlib.sha256(content).digest())
    h.update(f"\0gpu={gpu}\0cpu={cpu}".encode())
    return h.hexdigest()


def try_fast_up(
    project: Project, inputs: Mapping[str, ServiceInputs], services: Sequence[str], *, gpu: str, token: str
) -> list[Address] | None:
    """Addresses of labs that need nothing and answer, or None to take the full path."""
    state = project.state.read()
    found = []
    for name in services:
        entry = state.peek(name)
        if entry.address is None or not entry.tag or entry.hot_installed:
            return None
        try:
            key = fast_key(project, inputs[name], gpu=gpu, cpu=entry.mode == "cpu", tag=entry.tag)
        except (OSError, ValueError, JlcomposeError):
            return None
        if key != entry.fast_key:
            return None
        address = Address(*entry.address)
        if status_code(address, token, timeout=1.0) != 200:
            return None
        found.append(address)
    return found
