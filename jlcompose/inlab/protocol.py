"""How the CLI, the watcher and %pipreq talk to a lab's install agent: JSON lines on a Unix socket.

The socket lives in the project's .jlcompose/agent/ folder, which the lab sees at
/workspace/.jlcompose/agent/: the same file on both sides of the bind mount, so the host
reaches the agent with no `docker exec` (and no Docker call at all). It belongs to the lab
user, mode 0600.

Requests: {"op": "ping"}, {"op": "install", "requirements": [...]},
{"op": "pipreq", "packages": [...]}. Answers stream back as one JSON object per line:
{"line": text} (the installer's output), {"say": kind, "text": text} (a status line for the
user), then exactly one {"done": exit_code, ...} or {"error": {...}} (a JlcomposeError).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

AGENT_DIR = "agent"
CONNECT_TIMEOUT_S = 2.0
MAX_LINE = 1 << 20  # a requirements file's worth; a longer line is a broken peer
_SUN_PATH_MAX = 100  # sockaddr_un holds ~108 bytes; deeper paths go through /proc/self/fd


def socket_path(state_dir: Path, service: str) -> Path:
    return state_dir / AGENT_DIR / f"{service}.sock"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def connect(path: Path, *, timeout: float = CONNECT_TIMEOUT_S) -> socket.socket | None:
    """A connection to the agent at `path`, or None when no agent listens there."""
    if not path.is_socket():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    target = str(path)
    dir_fd = None
    try:
        if len(target) > _SUN_PATH_MAX:  # a deep project folder: name it through a short path
            dir_fd = os.open(path.parent, os.O_RDONLY)
            target = f"/proc/self/fd/{dir_fd}/{path.name}"
        sock.connect(target)
    except OSError:  # refused (a stale socket of a stopped lab), no permission, timeout
        sock.close()
        return None
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    sock.settimeout(None)
    return sock


def messages(sock: socket.socket) -> Iterator[dict[str, Any]]:
    """The peer's messages, one per line, until it closes the connection."""
    with contextlib.closing(sock.makefile("rb")) as stream:
        for raw in stream:
            if len(raw) > MAX_LINE:
                raise ValueError("agent message too long")
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value


UV_ERROR = "\N{MULTIPLICATION SIGN}"  # how uv starts its error report on a terminal


def until_error(show: Callable[[str], None]) -> Callable[[str], None]:
    """Pass the installer's lines to `show` until its error report starts.

    The report is shown once, as the failure's detail under its one-sentence explanation.
    """
    live = [True]

    def feed(line: str) -> None:
        live[0] = (
            live[0] and not line.startswith(("ERROR:", "error:")) and not line.lstrip().startswith(UV_ERROR)
        )
        if live[0] and not line.startswith("Using Python "):  # uv's every-time notice
            show(line)

    return feed
