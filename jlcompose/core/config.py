"""Project settings: `[tool.jlcompose]` in pyproject.toml or jlcompose.toml, then JLCOMPOSE_* env.

`.env` is not read here: it belongs to Docker Compose (ports, base images, tokens) and is
handed to Compose as an env file.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jlcompose.errors import ConfigError, UsageError

COMPOSE_FILE = Path("compose/compose.yaml")
# Compose's own convention: a stack at the project root. Counts as jlcompose's when the
# project also has docker_files/ (the labs' Dockerfile and requirements).
ROOT_COMPOSE_FILE = Path("compose.yaml")
GPU_MODES = ("auto", "gpu", "cpu")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PACKAGE_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Config:
    root: Path
    project_name: str
    compose_file: Path = COMPOSE_FILE
    docker_files: Path = Path("docker_files")
    default_services: tuple[str, ...] = ("torch",)
    gpu: str = "auto"
    ulimits: bool = False
    wait_timeout: float = 180.0
    ca_certs: Path | None = None
    project_name_explicit: bool = False
    extra_compose_files: tuple[Path, ...] = field(default_factory=tuple)
    unpin: tuple[str, ...] = ()  # pins dropped from the image's pip constraint file (canonical names)
    sync_exclude: tuple[str, ...] = ()  # more paths a remote lab's volume does not mirror (docs/remote.md)

    @property
    def state_dir(self) -> Path:
        return self.root / ".jlcompose"


def sanitize_project_name(name: str) -> str:
    """Compose project names allow lowercase letters, digits, '-' and '_' and start with one."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return cleaned or "lab"


def stack_file(folder: Path) -> Path | None:
    """The lab stack of a project folder: compose/compose.yaml, else a root compose.yaml."""
    if (folder / COMPOSE_FILE).is_file():
        return COMPOSE_FILE
    if (folder / ROOT_COMPOSE_FILE).is_file() and (folder / "docker_files" / "Dockerfile").is_file():
        return ROOT_COMPOSE_FILE
    return None


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds a lab stack (see stack_file)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if stack_file(folder) is not None:
            return folder
    raise UsageError(
        f"no jlcompose project found in {start} or any folder above it.",
        hint="run `jlcompose init` here, or pass -C DIR to point at the project folder.",
    )


def _read_table(root: Path) -> tuple[dict[str, Any], str]:
    for name in ("jlcompose.toml", "pyproject.toml"):
        path = root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
        if name == "pyproject.toml" and "jlcompose" not in text:
            continue  # no [tool.jlcompose]: not worth the parser's import (~15 ms) on every command
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10 (Ubuntu 22.04's python3): the same parser, as a package
            import tomli as tomllib
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
        table = doc if name == "jlcompose.toml" else doc.get("tool", {}).get("jlcompose")
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [tool.jlcompose] must be a table.")
            section = "" if name == "jlcompose.toml" else "tool.jlcompose."
            return table, f"{path} ({section or 'top level'})"
    return {}, "defaults"


def _want(kind: type | tuple[type, ...], value: Any, where: str, key: str, what: str) -> Any:
    # bool is an int in Python; a number where a flag belongs is a mistake worth naming
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}: `{key}` must be {what}, not {value!r}.")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: `{key}` must be {what}, not {value!r}.")
    return value


def load_config(root: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate settings once; every error names the file (or variable) and key."""
    environ = os.environ if environ is None else environ
    table, where = _read_table(root)
    known = {
        "project_name",
        "services",
        "gpu",
        "ulimits",
        "wait_timeout",
        "ca_certs",
        "compose_files",
        "unpin",
        "sync_exclude",
    }
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key `{key}`; known keys are {', '.join(sorted(known))}.")
    values: dict[str, Any] = {}
    if "project_name" in table:
        name = _want(str, table["project_name"], where, "project_name", "a string")
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"{where}: `project_name` {name!r} must be lowercase letters, digits, '-' or '_'."
            )
        values["project_name"] = name
    if "services" in table:
        services = _want(list, table["services"], where, "services", "a list of service names")
        if not services or not all(isinstance(s, str) and _NAME_RE.match(s) for s in services):
            raise ConfigError(f"{where}: `services` must be a non-empty list of service names.")
        values["default_services"] = tuple(services)
    if "gpu" in table:
        values["gpu"] = _want(str, table["gpu"], where, "gpu", "one of auto, gpu, cpu")
    if "ulimits" in table:
        values["ulimits"] = _want(bool, table["ulimits"], where, "ulimits", "true or false")
    if "wait_timeout" in table:
        values["wait_timeout"] = float(
            _want((int, float), table["wait_timeout"], where, "wait_timeout", "seconds")
        )
    if "ca_certs" in table:
        values["ca_certs"] = Path(_want(str, table["ca_certs"], where, "ca_certs", "a path"))
    if "compose_files" in table:
        files = _want(list, table["compose_files"], where, "compose_files", "a list of paths")
        if not all(isinstance(f, str) for f in files):
            raise ConfigError(f"{where}: `compose_files` must be a list of paths.")
        values["extra_compose_files"] = tuple(Path(f) for f in files)

    if "unpin" in table:
        names = _want(list, table["unpin"], where, "unpin", "a list of package names")
        if not all(isinstance(n, str) and _PACKAGE_RE.match(n) for n in names):
            raise ConfigError(f'{where}: `unpin` must be a list of package names, e.g. ["h11"].')
        values["unpin"] = tuple(dict.fromkeys(re.sub(r"[-_.]+", "-", n).lower() for n in names))

    if "sync_exclude" in table:
        patterns = _want(list, table["sync_exclude"], where, "sync_exclude", "a list of glob patterns")
        if not all(isinstance(p, str) and p.strip() for p in patterns):
            raise ConfigError(f'{where}: `sync_exclude` must be a list of glob patterns, e.g. ["data/"].')
        values["sync_exclude"] = tuple(p.strip() for p in patterns)

    # environment overrides, one variable per key
    env_where = "environment"
    if v := environ.get("JLCOMPOSE_PROJECT_NAME"):
        if not _NAME_RE.match(v):
            raise ConfigError(
                f"{env_where}: JLCOMPOSE_PROJECT_NAME {v!r} must be lowercase letters, digits, '-' or '_'."
            )
        values["project_name"] = v
    if v := environ.get("JLCOMPOSE_GPU"):
        values["gpu"] = v
        where = env_where if "gpu" not in table else where
    if v := environ.get("JLCOMPOSE_WAIT_TIMEOUT"):
        try:
            values["wait_timeout"] = float(v)
        except ValueError:
            raise ConfigError(
                f"{env_where}: JLCOMPOSE_WAIT_TIMEOUT must be a number of seconds, not {v!r}."
            ) from None
    if v := environ.get("JLCOMPOSE_CA_CERTS"):
        values["ca_certs"] = Path(v)

    if values.get("gpu", "auto") not in GPU_MODES:
        raise ConfigError(f"{where}: `gpu` must be one of auto, gpu, cpu, not {values['gpu']!r}.")
    if values.get("wait_timeout", 1.0) <= 0:
        raise ConfigError(f"{where}: `wait_timeout` must be more than 0 seconds.")
    if (ca := values.get("ca_certs")) is not None:
        ca = ca if ca.is_absolute() else root / ca
        if not ca.exists():
            raise ConfigError(f"{where}: `ca_certs` {ca} does not exist.")
        values["ca_certs"] = ca
    values["project_name_explicit"] = "project_name" in values
    values.setdefault("project_name", sanitize_project_name(root.name))
    values["compose_file"] = stack_file(root) or COMPOSE_FILE
    return Config(root=root, **values)
