"""The running lab seen from the host: its URL, whether a port is free, and whether it answers."""

from __future__ import annotations

import errno
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from jlcompose.core.composemodel import Address


def lab_url(address: Address, token: str) -> str:
    return f"http://{address.host}:{address.port}/lab?token={token}"


def port_in_use(bind: str, port: int) -> bool:
    """True when something on this host already listens on bind:port."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # without SO_REUSEADDR, connections in TIME_WAIT (say, our own readiness probes)
        # would make a free port look taken; a real listener still makes bind fail
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind if bind not in ("", "0.0.0.0") else "0.0.0.0", port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def status_code(address: Address, token: str | None, timeout: float = 2.0) -> int | None:
    """HTTP status of /api/status (200 with a good token, 403 without), None if no answer."""
    url = f"http://{address.host}:{address.port}/api/status"
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_ready(
    address: Address,
    token: str,
    *,
    timeout: float,
    still_alive: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll until JupyterLab answers /api/status with this token; False on timeout or exit."""
    deadline = clock() + timeout
    delay = 0.1
    while clock() < deadline:
        if status_code(address, token) == 200:
            return True
        if not still_alive():
            return False
        sleep(delay)
        delay = min(delay * 1.5, 1.0)
    return False
