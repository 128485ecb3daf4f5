"""A project folder: its config, services, state, token, and the engine that serves it."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jlcompose.compose import Engine
from jlcompose.config import Config, find_root, load_config
from jlcompose.errors import ConfigError, RequirementError, UnknownService
from jlcompose.files import atomic_write, locked
from jlcompose.includes import include_paths

TAG_PENDING = "jlc-pending"
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# name[:tag][@digest], lowercase repository path (the Docker reference grammar, simplified)
_IMAGE_REF_RE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)  # the tag variables' value while we only read the config
HASH_LABEL = "org.jlcompose.hash"
LAB_PORT = 8888  # the port JupyterLab listens on inside the container


@dataclass(frozen=True)
class Service:
    name: str
    folder: Path  # docker_files/<name>, copied into the image
    requirements: Path

    @property
    def tag_variable(self) -> str:
        return f"JLC_{self.name.upper().replace('-', '_')}_TAG"


@dataclass
class Project:
    config: Config
    services: dict[str, Service]
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    # -- services -------------------------------------------------------------------
    def service(self, name: str) -> Service:
        if name not in self.services:
            known = ", ".join(sorted(self.services)) or "none"
            raise UnknownService(
                f"unknown service {name!r}; this project has: {known}.",
                hint=f"a service needs {self.config.docker_files}/{name}/requirements.txt "
                "and an entry in compose/compose.yaml.",
            )
        return self.services[name]

    def pick(self, names: Sequence[str]) -> list[Service]:
        chosen = names or self.config.default_services
        return [self.service(n) for n in dict.fromkeys(chosen)]

    # -- files ----------------------------------------------------------------------
    def compose_files(self, *, cpu: bool) -> list[Path]:
        compose_dir = (self.root / self.config.compose_file).parent
        files = [self.root / self.config.compose_file]
        if cpu:
            files.append(compose_dir / "compose.cpu.yaml")
        if self.config.ulimits:
            files.append(compose_dir / "compose.ulimits.yaml")
        # an explicit -f turns off Compose's own lookup of the override file: add it back
        override = compose_dir / "compose.override.yaml"
        if override.is_file():
            files.append(override)
        files.extend(f if f.is_absolute() else self.root / f for f in self.config.extra_compose_files)
        for f in files:
            if not f.is_file():
                raise ConfigError(f"the compose file {f} does not exist.")
        return files

    def env_files(self) -> list[Path]:
        # Passing any --env-file turns off Compose's own .env lookup; hand it over explicitly.
        env = self.root / ".env"
        return [env] if env.is_file() else []

    def compose_variable(self, key: str) -> tuple[str, str] | None:
        """(value, where) of a Compose variable set in the shell or in .env, else None."""
        if v := self.environ.get(key):
            return v, "the environment"
        for env_file in self.env_files():
            if v := read_dotenv(env_file).get(key):
                return v, str(env_file)
        return None

    def compose_project_name(self) -> str:
        """Config or JLCOMPOSE_PROJECT_NAME, else JLC_PROJECT from the shell or .env, else the folder."""
        if self.config.project_name_explicit:
            return self.config.project_name
        found = self.compose_variable("JLC_PROJECT")
        if found is None:
            return self.config.project_name
        value, where = found
        if not _PROJECT_RE.match(value):
            raise ConfigError(
                f"{where}: JLC_PROJECT {value!r} is not a valid project name; use lowercase "
                "letters, digits, '-' or '_'."
            )
        return value

    def _id(self, key: str, default: int) -> str:
        found = self.compose_variable(key)
        if found is None:
            return str(default)
        value, where = found
        if not value.isdigit():
            raise ConfigError(f"{where}: {key} must be a number (see `id -u` / `id -g`), not {value!r}.")
        return value

    def token(self) -> str:
        """The project's JupyterLab token: random, made once, stored with mode 0600."""
        path = self.state_dir / "token"
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = ""
        if len(token) >= 32:
            return token
        with locked(self.state_dir / "token.lock"):
            try:
                token = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                token = ""
            if len(token) < 32:
                token = secrets.token_hex(24)
                atomic_write(path, token.encode() + b"\n", mode=0o600)
        return token

    def ensure_state_dir(self) -> None:
        # exist_ok: two jlcompose processes may both find the folder missing (`up` twice at once)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ignore = self.state_dir / ".gitignore"
        if not ignore.exists():  # never commit tokens or state by accident
            atomic_write(ignore, b"*\n")

    def variables(self, tags: Mapping[str, str] | None = None) -> dict[str, str]:
        """Compose variables jlcompose sets; the shell's own values win for the user's ones."""
        env: dict[str, str] = {
            "JLC_PROJECT": self.compose_project_name(),
            # the shell or .env may name another user (e.g. a UID mapped by rootless Docker)
            "JLC_UID": self._id("JLC_UID", os.getuid()),
            "JLC_GID": self._id("JLC_GID", os.getgid()),
            "JUPYTER_TOKEN": self.token(),
        }
        for svc in self.services.values():
            env[svc.tag_variable] = (tags or {}).get(svc.name, TAG_PENDING)
        return env

    # -- state ----------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        try:
            data = json.loads((self.state_dir / "state.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update_state(self, change: Callable[[dict[str, Any]], None]) -> None:
        self.ensure_state_dir()
        with locked(self.state_dir / "state.lock"):
            state = self.read_state()
            change(state)
            atomic_write(self.state_dir / "state.json", json.dumps(state, indent=2, sort_keys=True).encode())

    def sync_ca_certs(self) -> None:
        """Copy the configured extra CA certificates into docker_files/certs/ for the build."""
        source = self.config.ca_certs
        if source is None:
            return
        certs = self.root / self.config.docker_files / "certs"
        wanted = {}
        for pem in [source] if source.is_file() else sorted(source.glob("*.crt")):
            wanted[f"host-{pem.name if pem.suffix == '.crt' else pem.name + '.crt'}"] = pem.read_bytes()
        certs.mkdir(parents=True, exist_ok=True)
        for old in certs.glob("host-*.crt"):
            if old.name not in wanted:
                old.unlink()
        for name, data in wanted.items():
            target = certs / name
            if not target.is_file() or target.read_bytes() != data:
                atomic_write(target, data, mode=0o644)

    # -- hashing --------------------------------------------------------------------
    def hash_inputs(self, service: Service) -> list[tuple[str, bytes]]:
        """Every file the Dockerfile copies for this service, as (relative path, bytes)."""
        docker_files = self.root / self.config.docker_files
        paths: set[Path] = {docker_files / "Dockerfile"}
        for sub in ("lab", "certs", service.name):
            folder = docker_files / sub
            if folder.is_dir():
                paths.update(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for inc in include_paths(service.requirements):
            if service.folder not in inc.parents:
                raise RequirementError(
                    f"{service.requirements} includes {inc}, which is outside "
                    f"{service.folder} and so is not copied into the image.",
                    hint=f"move the included file into {service.folder}/.",
                )
            paths.add(inc)
        out = []
        for p in sorted(paths):
            rel = p.relative_to(docker_files).as_posix()
            out.append((rel, p.read_bytes()))
        return out


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a Compose .env file (enough to learn a few jlcompose variables)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        out[key.strip()] = value
    return out


def discover_services(config: Config) -> dict[str, Service]:
    docker_files = config.root / config.docker_files
    found: dict[str, Service] = {}
    if docker_files.is_dir():
        for req in sorted(docker_files.glob("*/requirements.txt")):
            name = req.parent.name
            found[name] = Service(name=name, folder=req.parent, requirements=req)
    return found


def open_project(directory: str | None, environ: Mapping[str, str] | None = None) -> Project:
    environ = os.environ if environ is None else environ
    root = find_root(Path(directory) if directory else Path.cwd())
    config = load_config(root, environ)
    return Project(config=config, services=discover_services(config), environ=environ)


def build_args_of(compose_config: Mapping[str, Any], service: str) -> dict[str, str]:
    svc = compose_config.get("services", {}).get(service, {})
    args = (svc.get("build") or {}).get("args") or {}
    out = {str(k): "" if v is None else str(v) for k, v in args.items()}
    base = out.get("BASE_IMAGE")
    if base is not None and not _IMAGE_REF_RE.match(base):
        raise ConfigError(
            f"the base image of {service} is {base!r}, which is not a valid image reference "
            f"(set by JLC_{service.upper()}_BASE in .env or the environment).",
        )
    return out


def image_repo_of(compose_config: Mapping[str, Any], service: Service) -> str:
    """The image repository for a service, checking that its tag is jlcompose's variable."""
    svc = compose_config.get("services", {}).get(service.name)
    if svc is None:
        raise UnknownService(
            f"compose/compose.yaml has no service {service.name!r}.",
            hint="add it there, or remove its folder from docker_files/.",
        )
    image = str(svc.get("image") or "")
    repo, _, tag = image.rpartition(":")
    if tag != TAG_PENDING or "/" in tag:
        raise ConfigError(
            f"compose/compose.yaml: the image of {service.name} must end with "
            f":${{{service.tag_variable}:-latest}} so jlcompose can tag it with its hash "
            f"(found {image!r}).",
        )
    return repo


def make_engine(
    project: Project,
    *,
    cpu: bool = False,
    tags: Mapping[str, str] | None = None,
    project_name: str | None = None,
    extra_files: Sequence[Path] = (),
) -> Engine:
    """The real engine for this project. Command tests replace this function with a fake."""
    from jlcompose.compose import PowEngine

    return PowEngine(
        project.root,
        [*project.compose_files(cpu=cpu), *extra_files],
        project.env_files(),
        project.variables(tags),
        # the shipped compose.yaml names the project ${JLC_PROJECT}, which we set: no need to
        # ask Compose (a ~0.1 s `config` call) just to learn the name
        project_name=project_name or project.compose_project_name(),
    )
