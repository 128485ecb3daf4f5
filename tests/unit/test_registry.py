"""Registry documents and the HTTP flow of engine/registry.py, on recorded and documented answers.

tests/data/registry/ holds answers recorded from Debian's docker-registry 2.8 (the test
registries of scripts/engine.sh): a manifest, its image config, an htpasswd 401, and a pull's
status lines. The Bearer challenges are in the form nvcr.io and Docker Hub send them
(`WWW-Authenticate: Bearer realm=...,service=...,scope=...`); neither is reachable from CI.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from jlcompose.core import distribution, imageref
from jlcompose.core.distribution import Challenge, Credentials, DocumentError
from jlcompose.engine.registry import Answer, Registry, _SameHostAuth
from jlcompose.errors import RegistryError

DATA = Path(__file__).resolve().parent.parent / "data" / "registry"
MANIFEST = (DATA / "local-manifest.json").read_bytes()
CONFIG = (DATA / "local-config.json").read_bytes()
NVCR_CHALLENGE = 'Bearer realm="https://nvcr.io/proxy_auth",scope="repository:nvidia/pytorch:pull"'
HUB_CHALLENGE = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:library/python:pull"'
)


def _recorded_401() -> Answer:
    head, _, body = (DATA / "auth-401.txt").read_bytes().partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Answer(int(lines[0].split()[1]), headers, body)


# -- references -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "registry", "repository", "reference", "shown"),
    [
        ("python:3.11", "docker.io", "library/python", "3.11", "python:3.11"),
        ("docker.io/library/python", "docker.io", "library/python", "latest", "python"),
        ("index.docker.io/me/lab:1", "docker.io", "me/lab", "1", "me/lab:1"),
        (
            "nvcr.io/nvidia/pytorch:25.10-py3",
            "nvcr.io",
            "nvidia/pytorch",
            "25.10-py3",
            "nvcr.io/nvidia/pytorch:25.10-py3",
        ),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", "127.0.0.1:5000/a/b"),
        ("localhost/x@sha256:ab12", "localhost", "x", "sha256:ab12", "localhost/x@sha256:ab12"),
    ],
)
def test_references_as_docker_reads_them(
    ref: str, registry: str, repository: str, reference: str, shown: str
) -> None:
    parsed = imageref.parse(ref)
    assert (parsed.registry, parsed.repository, parsed.reference, parsed.shown) == (
        registry,
        repository,
        reference,
        shown,
    )
    assert imageref.registry_of(ref) == registry


def test_api_host_loopback_and_bad_references() -> None:
    assert imageref.parse("python").api_host == "registry-1.docker.io"
    assert imageref.parse("127.0.0.1:5000/x").loopback and imageref.parse("localhost:5000/x").loopback
    assert not imageref.parse("172.17.0.1:5000/x").loopback and not imageref.parse("nvcr.io/x").loopback
    for bad in ("", "Upper/Case", "a b"):
        with pytest.raises(ValueError, match="not an image reference"):
            imageref.parse(bad)


# -- documents --------------------------------------------------------------------------
def test_challenges_of_nvcr_hub_and_htpasswd() -> None:
    nvcr = distribution.parse_challenge(NVCR_CHALLENGE)
    assert nvcr == Challenge(
        "bearer", {"realm": "https://nvcr.io/proxy_auth", "scope": "repository:nvidia/pytorch:pull"}
    )
    assert distribution.token_url(nvcr, "nvidia/pytorch") == (
        "https://nvcr.io/proxy_auth?scope=repository%3Anvidia%2Fpytorch%3Apull"
    )
    hub = distribution.parse_challenge(HUB_CHALLENGE)
    assert hub is not None
    assert distribution.token_url(hub, "library/python") == (
        "https://auth.docker.io/token?scope=repository%3Alibrary%2Fpython%3Apull&service=registry.docker.io"
    )
    basic = distribution.parse_challenge(_recorded_401().headers["www-authenticate"])
    assert basic == Challenge("basic", {"realm": "jlcompose-test"})
    assert distribution.parse_challenge("") is None
    with pytest.raises(DocumentError, match="not a URL"):
        distribution.token_url(Challenge("bearer", {"realm": "nvcr.io"}), "x")


def test_token_answers() -> None:
    assert distribution.token_of(b'{"token": "abc", "expires_in": 300}') == "abc"
    assert distribution.token_of(b'{"access_token": "xyz"}') == "xyz"
    for bad in (b"{}", b"<html>", b"[1]"):
        with pytest.raises(DocumentError):
            distribution.token_of(bad)


def test_the_recorded_manifest_and_config() -> None:
    found = distribution.parse_manifest(MANIFEST, distribution.MANIFEST, "amd64")
    assert isinstance(found, distribution.Manifest)
    assert len(found.layers) == 14 and found.config_digest.startswith("sha256:2960614970ed")
    assert sum(size for _, size in found.layers[4:]) == 104891848  # the 10 random layers
    env = distribution.config_env(CONFIG)
    assert env["CUDA_DRIVER_VERSION"] == "580.95.05" and env["PIP_CONSTRAINT"] == "/etc/pip/constraint.txt"


def test_an_index_picks_this_platform() -> None:
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": distribution.OCI_INDEX,
            "manifests": [
                {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
                {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
                {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            ],
        }
    ).encode()
    assert distribution.parse_manifest(index, "", "amd64") == "sha256:amd"
    assert distribution.parse_manifest(index, "", distribution.arch_of("aarch64")) == "sha256:arm"
    with pytest.raises(DocumentError, match=r"no linux/riscv64 image in the index \(it has linux/amd64"):
        distribution.parse_manifest(index, "", "riscv64")
    with pytest.raises(DocumentError, match="schema 1"):
        distribution.parse_manifest(b'{"schemaVersion": 1, "fsLayers": []}', "", "amd64")


def test_logins_from_config_json() -> None:
    b64 = base64.b64encode(b"$oauthtoken:nvapi-123").decode()
    config = json.dumps(
        {
            "auths": {
                "nvcr.io": {"auth": b64},
                "https://index.docker.io/v1/": {"username": "me", "password": "pw"},
                "broken.example": {"auth": "!!!"},
            },
            "credHelpers": {"gcr.io": "gcloud"},
        }
    )
    assert distribution.credentials(config, "nvcr.io") == Credentials("$oauthtoken", "nvapi-123")
    assert distribution.credentials(config, "docker.io") == Credentials("me", "pw")
    assert distribution.credentials(config, "broken.example") is None
    assert distribution.credentials(config, "gcr.io") is None
    assert distribution.helper_for(config, "gcr.io") == "gcloud"
    assert distribution.credentials(None, "nvcr.io") is None
    assert distribution.credentials("not json", "nvcr.io") is None
    assert distribution.basic_auth(Credentials("a", "b")) == "Basic YTpi"


# -- the HTTP flow, on a fake fetch -----------------------------------------------------
class Replay:
    """Answers by URL, recording every request (url, headers)."""

    def __init__(self, answers: Mapping[str, list[Answer | Exception]]) -> None:
        self.answers = {url: list(seq) for url, seq in answers.items()}
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> Answer:
        self.requests.append((url, dict(headers)))
        seq = self.answers.get(url)
        if not seq:
            raise AssertionError(f"unexpected request {url}")
        got = seq.pop(0) if len(seq) > 1 else seq[0]
        if isinstance(got, Exception):
            raise got
        return got


def ok(body: bytes, content_type: str = "") -> Answer:
    return Answer(200, {"content-type": content_type}, body)


def denied(challenge: str) -> Answer:
    return Answer(
        401,
        {"www-authenticate": challenge},
        b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
    )


CONFIG_DIGEST = json.loads(MANIFEST)["config"]["digest"]


def test_a_bearer_registry_like_nvcr_with_a_stored_login() -> None:
    base = "https://nvcr.io/v2/nvidia/pytorch"
    token_url = "https://nvcr.io/proxy_auth?scope=repository%3Anvidia%2Fpytorch%3Apull"
    fetch = Replay(
        {
            f"{base}/manifests/25.10-py3": [denied(NVCR_CHALLENGE), ok(MANIFEST, distribution.MANIFEST)],
            token_url: [ok(b'{"token": "tok"}')],
            f"{base}/blobs/{CONFIG_DIGEST}": [ok(CONFIG)],
        }
    )
    login = json.dumps({"auths": {"nvcr.io": {"auth": base64.b64encode(b"$oauthtoken:key").decode()}}})
    image = Registry(fetch=fetch, docker_config=login).image("nvcr.io/nvidia/pytorch:25.10-py3")
    assert image.registry == "nvcr.io" and len(image.layers) == 14 and image.size > 104891848
    assert image.env["CUDA_DRIVER_VERSION"] == "580.95.05"
    urls = [url for url, _ in fetch.requests]
    assert urls == [
        f"{base}/manifests/25.10-py3",
        token_url,
        f"{base}/manifests/25.10-py3",
        f"{base}/blobs/{CONFIG_DIGEST}",
    ]
    assert fetch.requests[1][1]["Authorization"] == distribution.basic_auth(Credentials("$oauthtoken", "key"))
    assert fetch.requests[2][1]["Authorization"] == "Bearer tok"
    assert fetch.requests[3][1]["Authorization"] == "Bearer tok"  # the blob too
    assert distribution.MANIFEST_LIST in fetch.requests[0][1]["Accept"]


def test_an_anonymous_token_for_docker_hub_and_an_index() -> None:
    base = "https://registry-1.docker.io/v2/library/python"
    index = json.dumps(
        {"manifests": [{"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}]}
    ).encode()
    fetch = Replay(
        {
            f"{base}/manifests/3.11": [denied(HUB_CHALLENGE), ok(index, distribution.MANIFEST_LIST)],
            "https://auth.docker.io/token?scope=repository%3Alibrary%2Fpython%3Apull&service=registry.docker.io": [
                ok(b'{"access_token": "anon"}')
            ],
            f"{base}/manifests/sha256:amd": [ok(MANIFEST)],
            f"{base}/blobs/{CONFIG_DIGEST}": [ok(CONFIG)],
        }
    )
    image = Registry(fetch=fetch).image("python:3.11")
    assert image.registry == "docker.io" and len(image.layers) == 14
    assert "Authorization" not in fetch.requests[1][1]  # no login: an anonymous token


def test_htpasswd_registry_on_loopback_falls_back_to_http() -> None:
    https = "https://127.0.0.1:5000/v2/t/ngc/manifests/1"
    http = "http://127.0.0.1:5000/v2/t/ngc/manifests/1"
    answers: dict[str, list[Answer | Exception]] = {
        https: [ssl.SSLError("WRONG_VERSION_NUMBER")],
        http: [_recorded_401(), ok(MANIFEST)],
        f"http://127.0.0.1:5000/v2/t/ngc/blobs/{CONFIG_DIGEST}": [ok(CONFIG)],
    }
    fetch = Replay(answers)
    login = json.dumps({"auths": {"127.0.0.1:5000": {"username": "jlc", "password": "pw"}}})
    image = Registry(fetch=fetch, docker_config=login).image("127.0.0.1:5000/t/ngc:1")
    assert image.env["CUDA_VERSION"] == "13.0.2"
    assert [u for u, _ in fetch.requests] == [
        https,
        http,
        http,
        f"http://127.0.0.1:5000/v2/t/ngc/blobs/{CONFIG_DIGEST}",
    ]
    assert fetch.requests[2][1]["Authorization"] == distribution.basic_auth(Credentials("jlc", "pw"))


@pytest.mark.parametrize(
    ("answers", "login", "kind", "words"),
    [
        ([_recorded_401()], None, "denied", "127.0.0.1:5000 wants a login for 127.0.0.1:5000/t/ngc:1."),
        ([_recorded_401()], "jlc:wrong", "denied", "127.0.0.1:5000 refused the stored login for"),
        (
            [Answer(404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')],
            None,
            "unknown",
            "127.0.0.1:5000 has no image 127.0.0.1:5000/t/ngc:1.",
        ),
        ([Answer(503, {}, b"busy")], None, "unreachable", "127.0.0.1:5000 answered HTTP 503."),
        ([ok(b"<html>")], None, "invalid", "something unexpected: the manifest is not JSON."),
    ],
)
def test_what_goes_wrong_is_a_registry_error_of_its_kind(
    answers: list[Answer | Exception], login: str | None, kind: str, words: str
) -> None:
    url = "http://127.0.0.1:5000/v2/t/ngc/manifests/1"
    fetch = Replay({"https://127.0.0.1:5000/v2/t/ngc/manifests/1": [ConnectionRefusedError()], url: answers})
    config = None
    if login:
        config = json.dumps(
            {"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(login.encode()).decode()}}}
        )
    with pytest.raises(RegistryError) as caught:
        Registry(fetch=fetch, docker_config=config).image("127.0.0.1:5000/t/ngc:1")
    assert caught.value.kind == kind and words in caught.value.message
    assert caught.value.registry == "127.0.0.1:5000"


def test_unreachable_and_untrusted_registries() -> None:
    url = "https://nvcr.io/v2/nvidia/pytorch/manifests/1"
    gone = Replay({url: [OSError("[Errno -2] Name or service not known")]})
    with pytest.raises(RegistryError) as caught:
        Registry(fetch=gone).image("nvcr.io/nvidia/pytorch:1")
    assert caught.value.kind == "unreachable" and caught.value.message == "nvcr.io could not be reached."
    assert len(gone.requests) == 1  # no plain-HTTP retry off loopback
    proxy = Replay({url: [urllib.error.URLError(ssl.SSLCertVerificationError("self-signed certificate"))]})
    with pytest.raises(RegistryError) as caught:
        Registry(fetch=proxy).image("nvcr.io/nvidia/pytorch:1")
    assert caught.value.kind == "tls" and "not trusted" in caught.value.message
    with pytest.raises(RegistryError) as caught:
        Registry(fetch=gone).image("Not A Ref")
    assert caught.value.kind == "invalid"


def test_redirects_keep_the_login_only_on_the_same_host() -> None:
    handler = _SameHostAuth()
    request = urllib.request.Request("https://nvcr.io/v2/x/blobs/sha256:1")
    request.add_unredirected_header("Authorization", "Bearer tok")
    same = handler.redirect_request(request, None, 307, "", {}, "https://nvcr.io/v2/x/blobs/other")  # type: ignore[arg-type]
    other = handler.redirect_request(request, None, 307, "", {}, "https://cdn.example/blob?sig=1")  # type: ignore[arg-type]
    assert same is not None and same.unredirected_hdrs.get("Authorization") == "Bearer tok"
    assert other is not None and "Authorization" not in other.unredirected_hdrs
    assert other.get_header("Authorization") is None


def test_a_registry_that_answers_garbage_is_unreachable_not_a_crash() -> None:
    import http.client

    fetch = Replay({"https://nvcr.io/v2/nvidia/pytorch/manifests/1": [http.client.BadStatusLine("garbage")]})
    with pytest.raises(RegistryError) as caught:
        Registry(fetch=fetch).image("nvcr.io/nvidia/pytorch:1")
    assert caught.value.kind == "unreachable"
