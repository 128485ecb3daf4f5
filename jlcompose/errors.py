"""One error base and the exit-code table every command shares."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (docs/reliability.md lists them for users)."""

    OK = 0
    FAILURE = 1  # a check failed (doctor), or a generic refusal
    USAGE = 2  # bad input: CLI flags, requirements, config files, .env values
    ENGINE = 3  # Docker or Compose missing, daemon down, Compose too old
    BUILD = 4  # the image build failed; the running lab was left alone
    START = 5  # the container did not start or JupyterLab did not answer
    INSTALL = 6  # pip failed inside the running lab; the requirements file is unchanged
    BUG = 70  # an unexpected exception: a jlcompose bug (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C


class JlcomposeError(Exception):
    """A problem the user can act on; its message is one clear sentence."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint  # one line saying what to do next
        self.detail = detail  # e.g. the tail of a tool's stderr, shown dimmed

    def to_json(self) -> dict[str, object]:
        """The error as `--json` commands print it on stdout."""
        return {
            "error": {
                "type": type(self).__name__,
                "message": self.message,
                "hint": self.hint,
                "detail": self.detail,
                "exit_code": int(self.exit_code),
            }
        }


# -- bad input (2) ----------------------------------------------------------------------
class UsageError(JlcomposeError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A bad value in a config file; the message names the file and the key."""


class RequirementError(UsageError):
    """A package argument or requirements file jlcompose refuses to touch."""


class UnknownService(UsageError):
    pass


class StateError(UsageError):
    """.jlcompose/ holds something this jlcompose cannot read (newer schema, no permission)."""


# -- Docker and Compose (3) -------------------------------------------------------------
class EngineError(JlcomposeError):
    exit_code = ExitCode.ENGINE


class DockerMissing(EngineError):
    """No `docker` command on PATH."""


class DaemonDown(EngineError):
    """The Docker daemon does not answer at the address the CLI tried."""

    def __init__(self, host: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(
            f"the Docker daemon does not answer at {host}.",
            hint=hint
            or "start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST "
            "or `docker context use` at a running engine.",
            detail=detail,
        )
        self.host = host


class DaemonDenied(EngineError):
    """The daemon answers but this user may not use it."""


class SshFailed(EngineError):
    """An ssh:// engine (or the lab's port forward) could not be reached over SSH."""

    def __init__(self, host: str, reason: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(f"ssh to {host} failed: {reason}", hint=hint, detail=detail)
        self.host = host
        self.reason = reason


class ComposeMissing(EngineError):
    """The Compose v2 plugin is not installed."""


class ComposeTooOld(EngineError):
    pass


class ComposeFailed(EngineError):
    """A docker/compose call failed in a way no more specific error explains."""

    def __init__(self, message: str, *, cmd: list[str], returncode: int, stderr_tail: str) -> None:
        super().__init__(message, detail=stderr_tail)
        self.cmd = cmd
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class RegistryError(EngineError):
    """A registry did not say what an image holds (engine/registry.py): never fatal by itself.

    `kind` is what went wrong, for doctor and `up` to choose their words and fix:
    "unreachable", "tls", "denied", "unknown" or "invalid".
    """

    def __init__(self, message: str, *, kind: str, registry: str, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.kind = kind
        self.registry = registry


# -- the build (4), the start (5) and installs (6) ----------------------------------------
class BuildFailed(JlcomposeError):
    exit_code = ExitCode.BUILD


class ImageMissing(BuildFailed):
    """An image that should exist locally (a base image, a lab image) does not."""


class StartFailed(JlcomposeError):
    exit_code = ExitCode.START


class GpuUnavailable(StartFailed):
    """The engine cannot give containers a GPU (no NVIDIA runtime)."""


class PortTaken(StartFailed):
    pass


class InstallFailed(JlcomposeError):
    exit_code = ExitCode.INSTALL


# -- the lab's own state (1) --------------------------------------------------------------
class LabNotRunning(JlcomposeError):
    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} lab is not running.", hint=f"start it: jlcompose up {service}")
        self.service = service
