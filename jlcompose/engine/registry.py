"""What a registry says about an image, read over HTTP without pulling a layer.

Not a Docker Engine call (the daemon has no API for "what is in this remote image"), so it goes
through urllib, not python-on-whales: the manifest (layer sizes: the pull's byte progress) and
the config blob (ENV: doctor's driver check before a 20 GB pull). Three or four small requests.

Auth as the docker CLI does it: a 401's `WWW-Authenticate` says Bearer (a token server, as at
nvcr.io and Docker Hub; anonymous tokens work for public images) or Basic (a plain registry
with htpasswd); the login is the one `docker login` stored in config.json's `auths`. Logins
kept by a credential helper are not read (doctor then says to log in or that it was refused).
A registry on 127.0.0.0/8 or localhost is tried over HTTPS, then plain HTTP, as dockerd does
for its default insecure range. Every document is parsed by core/distribution.py.
"""

from __future__ import annotations

import http.client
import logging
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jlcompose.core import distribution, imageref
from jlcompose.core.distribution import Credentials, DocumentError
from jlcompose.core.imageref import ImageRef
from jlcompose.engine.api import RemoteImage
from jlcompose.errors import RegistryError

log = logging.getLogger("jlcompose.engine")
MAX_BODY = 4 * 2**20  # manifests and configs are kilobytes; a bigger answer is not one of them
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


Fetch = Callable[[str, Mapping[str, str]], Answer]  # (url, headers) -> answer; OSError when unreachable


class _SameHostAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects, keeping the Authorization header only on the same host.

    Registries send blobs to a storage host (a CDN, S3) whose signed URL refuses a second auth.
    """

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        auth = req.get_header("Authorization") or req.unredirected_hdrs.get("Authorization")
        if new is not None and auth and urllib.parse.urlsplit(newurl).netloc == req.host:
            new.add_unredirected_header("Authorization", auth)
        return new


def urllib_fetch(timeout: float = TIMEOUT_S) -> Fetch:
    opener = urllib.request.build_opener(_SameHostAuth())

    def fetch(url: str, headers: Mapping[str, str]) -> Answer:
        request = urllib.request.Request(url)
        for key, value in headers.items():
            request.add_unredirected_header(key, value)
        try:
            with opener.open(request, timeout=timeout) as response:
                return Answer(int(response.status), _lower(response.headers), response.read(MAX_BODY))
        except urllib.error.HTTPError as exc:
            with exc:
                return Answer(int(exc.code), _lower(exc.headers), exc.read(MAX_BODY))

    return fetch


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers.items() if headers is not None else [])}


def docker_config_text(environ: Mapping[str, str] | None = None) -> str | None:
    """config.json as the docker CLI finds it ($DOCKER_CONFIG, else ~/.docker)."""
    env = os.environ if environ is None else environ
    folder = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"
    try:
        return (folder / "config.json").read_text(encoding="utf-8")
    except OSError:
        return None


class Registry:
    """Reads manifests and configs; `fetch` and the config.json text are what tests replace."""

    def __init__(
        self, *, fetch: Fetch | None = None, docker_config: str | None = None, arch: str = "amd64"
    ) -> None:
        self._fetch = fetch or urllib_fetch()
        self._config = docker_config
        self._arch = arch

    def image(self, ref: str) -> RemoteImage:
        try:
            parsed = imageref.parse(ref)
        except ValueError as exc:
            raise RegistryError(str(exc), kind="invalid", registry="") from None
        session = _Session(parsed, self._fetch, distribution.credentials(self._config, parsed.registry))
        repo = parsed.repository
        try:
            answer = session.get(f"/v2/{repo}/manifests/{parsed.reference}", distribution.ACCEPT)
            found = distribution.parse_manifest(
                answer.body, answer.headers.get("content-type", ""), self._arch
            )
            if isinstance(found, str):  # an index: this platform's manifest
                answer = session.get(f"/v2/{repo}/manifests/{found}", distribution.ACCEPT)
                found = distribution.parse_manifest(
                    answer.body, answer.headers.get("content-type", ""), self._arch
                )
            if isinstance(found, str):
                raise DocumentError("an index that points at another index")
            config = session.get(f"/v2/{repo}/blobs/{found.config_digest}", None)
            env = distribution.config_env(config.body)
        except DocumentError as exc:
            raise RegistryError(
                f"{parsed.registry} answered for {parsed.shown} with something unexpected: {exc}.",
                kind="invalid",
                registry=parsed.registry,
            ) from None
        return RemoteImage(ref=ref, registry=parsed.registry, layers=found.layers, env=env)


class _Session:
    """One image's requests: the scheme that answers, and the Authorization that worked."""

    def __init__(self, ref: ImageRef, fetch: Fetch, creds: Credentials | None) -> None:
        self.ref = ref
        self.fetch = fetch
        self.creds = creds
        self.base: str | None = None
        self.auth: str | None = None

    def _error(self, kind: str, message: str, detail: str | None = None) -> RegistryError:
        return RegistryError(message, kind=kind, registry=self.ref.registry, detail=detail)

    def _send(self, url: str, headers: Mapping[str, str]) -> Answer:
        try:
            return self.fetch(url, headers)
        except (
            OSError,
            ValueError,
            http.client.HTTPException,
        ) as exc:  # URLError, timeouts, TLS, refused, garbage
            reason = getattr(exc, "reason", exc)
            log.debug("registry request %s failed: %s", url, reason)
            if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
                raise self._error(
                    "tls", f"the TLS certificate of {self.ref.registry} is not trusted here.", str(reason)
                ) from None
            raise self._error(
                "unreachable", f"{self.ref.registry} could not be reached.", str(reason)
            ) from None

    def _request(self, path: str, accept: str | None) -> Answer:
        headers = {"Accept": accept} if accept else {}
        if self.auth:
            headers["Authorization"] = self.auth
        if self.base is not None:
            return self._send(self.base + path, headers)
        host = self.ref.api_host
        try:
            answer = self._send(f"https://{host}{path}", headers)
            self.base = f"https://{host}"
        except RegistryError:
            if not self.ref.loopback:
                raise
            answer = self._send(f"http://{host}{path}", headers)
            self.base = f"http://{host}"
        return answer

    def get(self, path: str, accept: str | None) -> Answer:
        answer = self._request(path, accept)
        if answer.status == 401 and self.auth is None:
            self.auth = self._authorize(answer)
            answer = self._request(path, accept)
        if answer.status in (401, 403):
            said = distribution.error_message(answer.body)
            if self.creds is None:
                raise self._error("denied", f"{self.ref.registry} wants a login for {self.ref.shown}.", said)
            raise self._error(
                "denied", f"{self.ref.registry} refused the stored login for {self.ref.shown}.", said
            )
        if answer.status == 404:
            raise self._error(
                "unknown",
                f"{self.ref.registry} has no image {self.ref.shown}.",
                distribution.error_message(answer.body),
            )
        if answer.status != 200:
            raise self._error(
                "unreachable",
                f"{self.ref.registry} answered HTTP {answer.status}.",
                distribution.error_message(answer.body),
            )
        return answer

    def _authorize(self, answer: Answer) -> str | None:
        challenge = distribution.parse_challenge(answer.headers.get("www-authenticate", ""))
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return distribution.basic_auth(self.creds) if self.creds else None
        if challenge.scheme != "bearer":
            return None
        try:
            url = distribution.token_url(challenge, self.ref.repository)
        except DocumentError:
            return None
        headers = {"Authorization": distribution.basic_auth(self.creds)} if self.creds else {}
        token = self._send(url, headers)
        if token.status != 200:
            return None  # the manifest request then says "denied"
        try:
            return "Bearer " + distribution.token_of(token.body)
        except DocumentError:
            return None
