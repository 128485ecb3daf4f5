"""Pure: which Docker engine a host URL names, and whether it shares this machine's files.

A `unix://` socket, a named pipe, or TCP to this machine's loopback is a local engine: a bind
mount of the project folder shows the lab this very folder. An `ssh://` engine is remote even
when it names localhost (its daemon may live in another machine's or namespace's file
system), and so is TCP to any other host.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

LOCAL_DEFAULT = "unix:///var/run/docker.sock"
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "ip6-localhost")


@dataclass(frozen=True)
class Endpoint:
    """One Docker engine address, as DOCKER_HOST or a Docker context names it."""

    url: str
    kind: str  # "local", "ssh" or "tcp"
    host: str = ""  # the machine (ssh, tcp)
    user: str | None = None  # ssh://USER@host
    port: int | None = None  # ssh://host:PORT, tcp://host:PORT
    context: str | None = None  # the Docker context it came from, if any

    @property
    def remote(self) -> bool:
        return self.kind != "local"

    @property
    def shown(self) -> str:
        """How the one-line notice and `status` name the engine."""
        where = f" (Docker context {self.context})" if self.context else ""
        return f"{self.url}{where}"

    def ssh_args(self) -> list[str]:
        """`ssh` arguments that reach the same machine as the docker CLI's ssh transport."""
        if self.kind != "ssh":
            raise ValueError(f"{self.url} is not an ssh:// engine")
        args = ["-l", self.user] if self.user else []
        args += ["-p", str(self.port)] if self.port else []
        return [*args, "--", self.host]


def parse_host(url: str, *, context: str | None = None) -> Endpoint:
    """DOCKER_HOST's value (or a context's docker endpoint) as an Endpoint."""
    url = url.strip()
    if not url or url.startswith(("unix://", "npipe://", "fd://")):
        return Endpoint(url=url or LOCAL_DEFAULT, kind="local", context=context)
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    if scheme == "ssh":
        return Endpoint(url=url, kind="ssh", host=host, user=parts.username, port=port, context=context)
    if scheme in ("tcp", "http", "https") and host not in _LOOPBACK:
        return Endpoint(url=url, kind="tcp", host=host, port=port, context=context)
    return Endpoint(url=url, kind="local", host=host, port=port, context=context)
