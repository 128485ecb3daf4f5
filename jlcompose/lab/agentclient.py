"""Asking a lab's install agent, from the host, through the socket in .jlcompose/agent/.

No Docker call and no python-on-whales import: this is why a hot install costs about what
the installer itself takes (docs/performance.md). Where no agent answers (the lab is down, an
image from before the agent, a remote engine) callers fall back to `docker exec`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jlcompose.errors import ExitCode, InstallFailed, JlcomposeError, RequirementError, UsageError
from jlcompose.inlab import protocol
from jlcompose.inlab.protocol import until_error

__all__ = ["ask", "install", "raise_if_error", "reachable", "socket_for", "until_error"]

_ERRORS: dict[str, type[JlcomposeError]] = {
    "RequirementError": RequirementError,
    "UsageError": UsageError,
    "InstallFailed": InstallFailed,
}


def socket_for(state_dir: Path, service: str) -> Path:
    return protocol.socket_path(state_dir, service)


def reachable() -> bool:
    """Whether a lab's agent can be reached from here: not when the Docker engine is remote.

    Read from DOCKER_HOST and the docker CLI's own files, so the hot path stays free of Docker
    calls; a context those files do not describe counts as local (its socket is then missing
    anyway, and the caller falls back to `docker exec`).
    """
    from jlcompose.engine import contexts

    found = contexts.current()
    return found is None or not found.remote


def ask(
    path: Path,
    request: dict[str, Any],
    *,
    on_line: Callable[[str], None],
    on_say: Callable[[str, str], None] | None = None,
) -> dict[str, Any] | None:
    """Send one request; stream its output; the final message, or None when no agent answered."""
    sock = protocol.connect(path)
    if sock is None:
        return None
    with sock:
        sock.sendall(protocol.encode(request))
        for message in protocol.messages(sock):
            if "line" in message:
                on_line(str(message["line"]))
            elif "say" in message and on_say is not None:
                on_say(str(message["say"]), str(message.get("text", "")))
            elif "done" in message or "error" in message:
                return message
    # the agent went away mid-answer (the lab stopped): say so rather than guess
    raise JlcomposeError(
        "the lab's install agent stopped answering in the middle of a request.",
        hint="see `jlcompose logs`; run the command again once the lab is up.",
    )


def raise_if_error(answer: dict[str, Any]) -> int:
    """The exit code of a final message; its error, re-raised as the same kind of JlcomposeError."""
    error = answer.get("error")
    if not isinstance(error, dict):
        return int(answer.get("done", 0))
    kind = _ERRORS.get(str(error.get("type")), JlcomposeError)
    exc = kind(
        str(error.get("message", "the lab's install agent failed.")),
        hint=error.get("hint"),
        detail=error.get("detail"),
    )
    code = error.get("exit_code")
    if isinstance(code, int) and code != int(exc.exit_code):
        exc.exit_code = ExitCode(code) if code in ExitCode._value2member_map_ else ExitCode.FAILURE
    raise exc


def install(
    state_dir: Path,
    service: str,
    requirements: Sequence[str],
    on_line: Callable[[str], None],
    *,
    unpin: Sequence[str] = (),
) -> int | None:
    """Install in the running lab through its agent: the installer's exit code, or None (no agent)."""
    request = {"op": "install", "requirements": list(requirements), "unpin": list(unpin)}
    answer = ask(socket_for(state_dir, service), request, on_line=on_line)
    if answer is None:
        return None
    if "error" in answer:
        raise_if_error(answer)
    return int(answer.get("done", 1))
