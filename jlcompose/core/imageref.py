"""Pure: an image reference as Docker reads it (registry, repository, tag or digest)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
# docker.io's API lives elsewhere, and docker login stores its credentials under the old index URL
_HUB_API = "registry-1.docker.io"
HUB_AUTH_KEY = "https://index.docker.io/v1/"
_LOOPBACK = re.compile(r"^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "docker.io", "nvcr.io", "127.0.0.1:5000"
    repository: str  # "library/python", "nvidia/pytorch"
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What the manifest URL asks for: the digest when given, else the tag (default latest)."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        return _HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def loopback(self) -> bool:
        """A registry on this machine: dockerd treats 127.0.0.0/8 as insecure (plain HTTP) by default."""
        return _LOOPBACK.match(self.registry) is not None

    @property
    def shown(self) -> str:
        """The reference as people write it: no docker.io/library/ prefix."""
        repo = self.repository
        if self.registry == DOCKER_HUB:
            name = repo.removeprefix("library/")
        else:
            name = f"{self.registry}/{repo}"
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name


def registry_of(ref: str) -> str:
    """The registry part of a reference: what `docker login` takes."""
    first, slash, _rest = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return DOCKER_HUB if first == "index.docker.io" else first
    return DOCKER_HUB


def parse(ref: str) -> ImageRef:
    """Docker's normalisation: `python:3` is docker.io/library/python:3; `nvcr.io/x/y` keeps its host."""
    ref = ref.strip()
    if not ref or any(c.isspace() for c in ref):
        raise ValueError(f"not an image reference: {ref!r}")
    first, slash, after = ref.partition("/")
    named = bool(slash) and ("." in first or ":" in first or first == "localhost")
    registry, rest = (registry_of(ref), after) if named else (DOCKER_HUB, ref)
    rest, _at, digest = rest.partition("@")
    name, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:  # "repo" or a port-looking colon inside the path: no tag
        name, tag = rest, ""
    if registry == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    if not name or name != name.lower():
        raise ValueError(f"not an image reference: {ref!r}")
    return ImageRef(registry, name, tag or None, digest or None)
