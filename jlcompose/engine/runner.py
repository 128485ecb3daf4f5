"""How the engine runs docker: python-on-whales' object API, its Compose command builder, its runners.

python-on-whales has no per-call environment for its Compose methods (its PR #380 was closed
unmerged), and the variables must not be written into os.environ, where they would change the
process for everything after. So Compose commands are built with python-on-whales' own command
builder (ClientConfig.docker_compose_cmd) and run by its own runners (utils.run and
utils.stream_stdout_and_stderr), which take an `env`. Every failure becomes a JlcomposeError.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from jlcompose.engine import translate
from jlcompose.engine.api import LineSink, Stack
from jlcompose.errors import ComposeFailed, DockerMissing, JlcomposeError

log = logging.getLogger("jlcompose.engine")
T = TypeVar("T")
DEFAULT_HOST = "unix:///var/run/docker.sock"


def docker_missing() -> DockerMissing:
    return DockerMissing(
        "the `docker` command was not found on PATH.",
        hint="install Docker Engine (docs: https://docs.docker.com/engine/install/).",
    )


def configured_host(environ: Mapping[str, str] | None = None) -> str:
    """The engine address the docker CLI will try, as far as the environment says."""
    env = os.environ if environ is None else environ
    if host := env.get("DOCKER_HOST"):
        return host
    if context := env.get("DOCKER_CONTEXT"):
        return f"the endpoint of Docker context {context!r}"
    return DEFAULT_HOST


def shown(cmd: list[str]) -> str:
    """The command as -v prints it: a very long argument (a script sent to `python3 -c`) shortened."""
    return shlex.join(a if len(a) <= 200 else f"{a[:60]}…({len(a)} characters)" for a in cmd)


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\n")


class Runner:
    """One python-on-whales client; the three ways jlcompose runs a docker command through it."""

    def __init__(self) -> None:
        from python_on_whales import DockerClient

        self.docker = DockerClient()  # DOCKER_HOST / DOCKER_CONTEXT apply as for the docker CLI

    # -- the three ways a command runs ------------------------------------------------------
    def call(self, what: str, fn: Callable[[], T]) -> T:
        """A python-on-whales object call (it logs its own argv at debug level)."""
        from python_on_whales.client_config import ClientNotFoundError
        from python_on_whales.exceptions import DockerException

        try:
            return fn()
        except ClientNotFoundError:
            raise docker_missing() from None
        except DockerException as exc:
            raise self.failure(what, exc) from None

    def compose_cmd(self, stack: Stack) -> list[str]:
        from python_on_whales.client_config import ClientConfig, ClientNotFoundError

        config = ClientConfig(
            compose_files=[str(f) for f in stack.files],
            compose_env_files=[str(f) for f in stack.env_files],
            compose_profiles=list(stack.profiles),
            compose_project_name=stack.project_name,
            compose_project_directory=str(stack.directory),
        )
        try:
            return [str(a) for a in config.docker_compose_cmd]
        except ClientNotFoundError:
            raise docker_missing() from None

    def docker_cmd(self) -> list[str]:
        from python_on_whales.client_config import ClientNotFoundError

        try:
            return [str(a) for a in self.docker.client_config.docker_cmd]
        except ClientNotFoundError:
            raise docker_missing() from None

    def compose(self, what: str, stack: Stack, args: Sequence[str]) -> str:
        """A Compose command with the stack's variables, output captured."""
        from python_on_whales.utils import run

        cmd = [*self.compose_cmd(stack), *args]
        log.debug("compose variables: %s", stack.shown_variables())
        return self.call(what, lambda: run(cmd, env=stack.env, return_stderr=False))

    def stream(self, cmd: list[str], on_line: LineSink, env: Mapping[str, str] | None = None) -> int:
        """Run a command, each output line to on_line as it comes; its exit code."""
        from python_on_whales.exceptions import DockerException
        from python_on_whales.utils import stream_stdout_and_stderr

        log.debug("Running command: %s", shown(cmd))
        seen: list[str] = []
        try:
            for _source, raw in stream_stdout_and_stderr(cmd, env=dict(env or {})):
                line = decode(raw)
                seen.append(line)
                del seen[:-40]
                on_line(line)
        except DockerException as exc:
            if (gone := translate.engine_gone("\n".join(seen))) is not None:
                raise gone from None
            return exc.return_code
        except UnicodeDecodeError:  # python-on-whales decodes a failed call's stderr strictly
            return 1
        except FileNotFoundError:
            raise docker_missing() from None
        return 0

    def failure(self, what: str, exc: Any) -> JlcomposeError:
        stderr = exc.stderr or ""
        gone = translate.engine_gone(stderr)
        if gone is not None:
            return gone
        return ComposeFailed(
            f"{what} failed (exit {exc.return_code}).",
            cmd=[str(c) for c in exc.docker_command],
            returncode=exc.return_code,
            stderr_tail=translate.tail(stderr),
        )
