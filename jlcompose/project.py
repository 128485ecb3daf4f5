"""A project folder: its config, its services, and the Compose stack that serves it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jlcompose.core.composemodel import TAG_PENDING, service_variable
from jlcompose.core.config import Config, find_root, load_config
from jlcompose.errors import ConfigError, UnknownService

if TYPE_CHECKING:  # imported where used: a hot install through the lab's agent needs none
    from jlcompose.core.envfile import EnvFile
    from jlcompose.engine.api import Stack
    from jlcompose.state import StateDir

_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Service:
    name: str
    folder: Path  # docker_files/<name>, copied into the image
    requirements: Path

    def variable(self, suffix: str) -> str:
        return service_variable(self.name, suffix)


@dataclass
class Project:
    config: Config
    services: dict[str, Service]
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def state(self) -> StateDir:
        from jlcompose.state import StateDir

        return StateDir(self.config.state_dir)

    @property
    def docker_files(self) -> Path:
        return self.root / self.config.docker_files

    # -- services ---------------------------------------------------------------------
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

    def relative(self, path: Path) -> str:
        """A path as the user sees it: relative to the project when inside it."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- what Compose reads -------------------------------------------------------------
    def compose_files(self, *, cpu: bool) -> list[Path]:
        compose_dir = (self.root / self.config.compose_file).parent
        files = [self.root / self.config.compose_file]
        if cpu:
            files.append(self._cpu_override(compose_dir))
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

    def _cpu_override(self, compose_dir: Path) -> Path:
        """compose.cpu.yaml beside the stack; for a stack without one, jlcompose's own copy."""
        shipped = compose_dir / "compose.cpu.yaml"
        if shipped.is_file():
            return shipped
        from jlcompose.files import atomic_write

        made = self.config.state_dir / "compose.cpu.yaml"
        text = "# written by jlcompose: the labs without their GPU reservation\nservices:\n" + "".join(
            f"  {name}:\n    deploy: !reset {{}}\n" for name in sorted(self.services)
        )
        if not made.is_file() or made.read_text(encoding="utf-8") != text:
            atomic_write(made, text.encode())
        return made

    def env_files(self) -> list[Path]:
        # Passing any --env-file turns off Compose's own .env lookup; hand it over explicitly.
        env = self.root / ".env"
        return [env] if env.is_file() else []

    def env_file(self) -> EnvFile | None:
        """The `.env` handed to Compose, read as Compose reads it (quotes, comments, ${VAR})."""
        from jlcompose.core.envfile import read_env_file  # python-dotenv: only where .env matters

        files = self.env_files()
        return read_env_file(files[0], self.environ) if files else None

    def _names(self, key: str) -> bool:
        """Whether .env so much as mentions `key`: if not, it cannot set it, and the ~20 ms of
        importing python-dotenv are saved (the fast `up` reads three variables)."""
        try:
            return any(key.encode() in f.read_bytes() for f in self.env_files())
        except OSError:
            return True  # let the reader say what is wrong

    def compose_variable(self, key: str) -> tuple[str, str] | None:
        """(value, where) of a Compose variable set in the shell or in .env, else None."""
        if v := self.environ.get(key):
            return v, "the environment"
        if not self._names(key) or (env := self.env_file()) is None:
            return None
        if key in env.unresolved:
            from jlcompose.core.envfile import SUPPORTED

            raise ConfigError(
                f"{env.where(key)}: jlcompose needs {key} but cannot be sure how Compose reads "
                f"{env.unresolved[key]!r}.",
                hint=f"write it with {SUPPORTED}, or set {key} in the shell.",
            )
        if v := env.values.get(key):
            return v, env.where(key)
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
            return str(self._sudo_id(key) or default)
        value, where = found
        if not value.isdigit():
            raise ConfigError(f"{where}: {key} must be a number (see `id -u` / `id -g`), not {value!r}.")
        return value

    def gpu_requests(self, names: Sequence[str]) -> dict[str, int | list[str]]:
        """The labs whose JLC_<SVC>_GPUS asks for less than all GPUs: a count or device IDs."""
        from jlcompose.core import gpus

        out: dict[str, int | list[str]] = {}
        for name in names:
            variable = service_variable(name, "GPUS")
            found = self.compose_variable(variable)
            if found is not None and (want := gpus.parse(found[0], f"{found[1]}: {variable}")) is not None:
                out[name] = want
        return out

    def _sudo_id(self, key: str) -> int | None:
        """Under sudo, the real user's ID: a lab started with sudo must not run as root."""
        if os.geteuid() != 0:
            return None
        value = self.environ.get("SUDO_UID" if key == "JLC_UID" else "SUDO_GID", "")
        return int(value) if value.isdigit() and value != "0" else None

    def variables(self, tags: Mapping[str, str] | None = None) -> dict[str, str]:
        """Compose variables jlcompose sets; the shell's own values win for the user's ones.

        The token is included once it exists: only `up` makes it, so other commands
        never write a file just to talk to Compose.
        """
        env: dict[str, str] = {
            "JLC_PROJECT": self.compose_project_name(),
            # the shell or .env may name another user (e.g. a UID mapped by rootless Docker)
            "JLC_UID": self._id("JLC_UID", os.getuid()),
            "JLC_GID": self._id("JLC_GID", os.getgid()),
        }
        if (token := self.state.read_token()) is not None:
            env["JUPYTER_TOKEN"] = token
        if self.config.unpin:  # else .env's JLC_UNPIN, if any, applies (plain Compose users)
            env["JLC_UNPIN"] = " ".join(self.config.unpin)
        state = self.state.read() if self.config.state_dir.is_dir() else None
        for svc in self.services.values():
            env[svc.variable("TAG")] = (tags or {}).get(svc.name, TAG_PENDING)
            # a port jlcompose moved the lab to (lab/ports.py), unless you chose one yourself
            if state is not None and (port := state.peek(svc.name).port) is not None:
                if self.compose_variable(svc.variable("PORT")) is None:
                    env[svc.variable("PORT")] = str(port)
        return env

    def stack(
        self, *, cpu: bool, tags: Mapping[str, str] | None = None, extra_files: Sequence[Path] = ()
    ) -> Stack:
        """The Compose project as `up` (or any command) hands it to the engine."""
        from jlcompose.engine.api import Stack

        return Stack(
            # the shipped compose.yaml names the project ${JLC_PROJECT}, which we set: no need
            # to ask Compose (a ~0.1 s `config` call) just to learn the name
            project_name=self.compose_project_name(),
            files=(*self.compose_files(cpu=cpu), *extra_files),
            env_files=tuple(self.env_files()),
            variables=tuple(sorted(self.variables(tags).items())),
            # every lab visible to jlcompose, those under a profile (tf) too; a bare
            # `docker compose up` still starts only the default one
            profiles=tuple(sorted(self.services)),
        )


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
