"""Pure: the registry API's documents (OCI distribution, Docker registry v2), parsed.

engine/registry.py does the HTTP; everything it reads is parsed here, so the parsing is tested
with recorded responses: auth challenges (nvcr.io's and Docker Hub's `Bearer realm=...`, a
plain registry's `Basic realm=...`), token answers, manifests and indexes, image configs, and
the `auths` of ~/.docker/config.json.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jlcompose.core.imageref import DOCKER_HUB, HUB_AUTH_KEY

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((MANIFEST, MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX))
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


class DocumentError(ValueError):
    """A registry answer that is not what the API says it should be."""


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    config_digest: str
    layers: tuple[tuple[str, int], ...]  # (digest, compressed size in bytes), base layer first


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def arch_of(machine: str) -> str:
    """`uname -m` (or `docker info`'s Architecture) as image platforms name it."""
    return _ARCH.get(machine.lower(), machine.lower())


def parse_challenge(header: str) -> Challenge | None:
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (None when absent)."""
    scheme, _sp, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def token_url(challenge: Challenge, repository: str) -> str:
    """Where a Bearer challenge sends us for a pull token of this repository."""
    realm = challenge.params.get("realm", "")
    if not realm.startswith(("https://", "http://")):
        raise DocumentError(f"the registry's token realm is not a URL: {realm!r}")
    query = {"scope": challenge.params.get("scope") or f"repository:{repository}:pull"}
    if service := challenge.params.get("service"):
        query["service"] = service
    return realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)


def token_of(body: bytes) -> str:
    """The token of a token server's answer (`token`, or OAuth's `access_token`)."""
    doc = _json(body, "token answer")
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise DocumentError("the token answer holds no token")
    return token


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise DocumentError(f"the {what} is not JSON") from None
    if not isinstance(doc, dict):
        raise DocumentError(f"the {what} is not a JSON object")
    return doc


def parse_manifest(body: bytes, content_type: str, arch: str, os_name: str = "linux") -> Manifest | str:
    """A manifest; for an index (multi-platform image), the digest of this platform's manifest."""
    doc = _json(body, "manifest")
    kind = str(doc.get("mediaType") or content_type.split(";", maxsplit=1)[0].strip())
    if kind in (MANIFEST_LIST, OCI_INDEX) or "manifests" in doc:
        for entry in doc.get("manifests") or []:
            platform = entry.get("platform") or {}
            if platform.get("os") == os_name and platform.get("architecture") == arch:
                return str(entry["digest"])
        found = sorted(
            f"{p.get('os')}/{p.get('architecture')}"
            for e in doc.get("manifests") or []
            if (p := e.get("platform"))
        )
        raise DocumentError(f"no {os_name}/{arch} image in the index (it has {', '.join(found) or 'none'})")
    if doc.get("schemaVersion") != 2 or "config" not in doc:
        raise DocumentError("an old (schema 1) or unknown manifest")
    try:
        layers = tuple((str(layer["digest"]), int(layer["size"])) for layer in doc.get("layers") or [])
        return Manifest(str(doc["config"]["digest"]), layers)
    except (KeyError, TypeError, ValueError):
        raise DocumentError("a manifest without layer digests and sizes") from None


def config_env(body: bytes) -> dict[str, str]:
    """The image config's `ENV` (what `docker image inspect` would show, without the layers)."""
    doc = _json(body, "image config")
    env = (doc.get("config") or {}).get("Env") or []
    out = {}
    for item in env:
        key, _eq, value = str(item).partition("=")
        out[key] = value
    return out


def _auth_keys(registry: str) -> tuple[str, ...]:
    if registry == DOCKER_HUB:
        return (HUB_AUTH_KEY, "docker.io", "index.docker.io", "https://index.docker.io/v1")
    return (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/")


def credentials(config_text: str | None, registry: str) -> Credentials | None:
    """The login `docker login REGISTRY` stored in config.json's `auths` (None: none stored there).

    Logins kept by a credential helper (`credsStore`, `credHelpers`) are not read.
    """
    if not config_text:
        return None
    try:
        auths = json.loads(config_text).get("auths") or {}
    except (ValueError, AttributeError):
        return None
    for key in _auth_keys(registry):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
        try:
            user, colon, password = base64.b64decode(str(entry.get("auth", ""))).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if colon and user:
            return Credentials(user, password)
    return None


def helper_for(config_text: str | None, registry: str) -> str | None:
    """The credential helper config.json names for this registry, if any."""
    try:
        doc = json.loads(config_text or "{}")
    except ValueError:
        return None
    helpers = doc.get("credHelpers") or {}
    for key in _auth_keys(registry):
        if key in helpers:
            return str(helpers[key])
    store = doc.get("credsStore")
    return str(store) if store else None


def basic_auth(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


def error_message(body: bytes) -> str:
    """The registry's own words from an error answer (`{"errors": [{"code", "message"}]}`)."""
    try:
        doc = json.loads(body)
        first = doc["errors"][0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, KeyError, IndexError, TypeError):
        return body[:200].decode("utf-8", errors="replace").strip()
