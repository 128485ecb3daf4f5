"""engine/translate.py: the docker CLI's and BuildKit's error text, as one typed sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlcompose.engine import translate
from jlcompose.errors import BuildFailed, DaemonDenied, DaemonDown, ImageMissing

BUILDKIT = Path(__file__).resolve().parent.parent / "data" / "buildkit"


def test_an_unreachable_registry_names_the_image_registry_and_the_fix() -> None:
    err = translate.build_failure("torch", (BUILDKIT / "base-unreachable.txt").read_text())
    assert isinstance(err, ImageMissing)
    assert err.message == (
        "the base image nosuch/image:1 of torch could not be fetched from docker.io: docker.io could not be reached."
    )
    assert err.hint is not None and "JLC_TORCH_BASE" in err.hint and "left as it was" in err.hint
    assert "no such host" in (err.detail or "")


@pytest.mark.parametrize(
    ("ref", "reason", "registry", "words"),
    [
        (
            "nvcr.io/nvidia/pytorch:25.10-py3",
            "unexpected status: 401 Unauthorized",
            "nvcr.io",
            "docker login nvcr.io",
        ),
        (
            "127.0.0.1:5000/ngc/pytorch:1",
            "127.0.0.1:5000/ngc/pytorch:1: not found",
            "127.0.0.1:5000",
            "check the name",
        ),
        (
            "nvcr.io/nvidia/pytorch:25.10-py3",
            "tls: failed to verify certificate: x509: unknown authority",
            "nvcr.io",
            "CA",
        ),
    ],
)
def test_base_image_reasons(ref: str, reason: str, registry: str, words: str) -> None:
    text = f"#4 [torch internal] load metadata for {ref}\n#4 ERROR: {reason}\n"
    err = translate.build_failure("torch", text)
    assert isinstance(err, ImageMissing)
    assert f"from {registry}:" in err.message and ref in err.message
    assert words in (err.hint or "")


def test_a_failed_install_step_is_not_blamed_on_the_base_image() -> None:
    err = translate.build_failure("torch", (BUILDKIT / "pip-failed.txt").read_text())
    assert type(err) is BuildFailed
    assert "nosuchpackage==9" in (err.detail or "")


def test_engine_gone() -> None:
    down = translate.engine_gone(
        "Cannot connect to the Docker daemon at ssh://me@gpu-box. Is the docker daemon running?"
    )
    assert isinstance(down, DaemonDown) and down.host == "ssh://me@gpu-box"
    denied = translate.engine_gone(
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get x"
    )
    assert isinstance(denied, DaemonDenied)
    assert translate.engine_gone("Error response from daemon: No such container: x") is None


# what `docker pull` printed on stderr (CLI 28, dockerd 20.10) against the test registries,
# nvcr.io offline, and (the last) Docker Hub's answer for a missing or private repository
@pytest.mark.parametrize(
    ("ref", "stderr", "why", "fix"),
    [
        (
            "127.0.0.1:41161/nosuch:1",
            "Error response from daemon: manifest for 127.0.0.1:41161/nosuch:1 not found: manifest unknown: manifest unknown",
            "no such image there",
            "check the name and tag, or set JLC_TORCH_BASE in .env to an image already on this machine",
        ),
        (
            "127.0.0.1:1/ngc-like:1",
            'Error response from daemon: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
            "127.0.0.1:1 could not be reached",
            "check the network or Docker's proxy settings, or set JLC_TORCH_BASE",
        ),
        (
            "nvcr.io/nvidia/pytorch:25.10-py3",
            'Error response from daemon: Get "https://nvcr.io/v2/": dial tcp: lookup nvcr.io on 10.255.255.53:53: no such host',
            "nvcr.io could not be reached",
            "set JLC_TORCH_BASE in .env to an image already on this machine (`docker images`)",
        ),
        (
            "127.0.0.1:34815/ngc-like:pull",
            'Error response from daemon: Head "http://127.0.0.1:34815/v2/ngc-like/manifests/pull": no basic auth credentials',
            "the registry refused it (not logged in?)",
            "`docker login 127.0.0.1:34815`, then try again",
        ),
        (
            "nvcr.io/nvidia/pytorch:25.10-py3",
            "Error response from daemon: unauthorized: authentication required",
            "the registry refused it (not logged in?)",
            "`docker login nvcr.io` (user `$oauthtoken`, password: your NGC API key), then try again",
        ),
        (
            "172.17.0.1:53621/ngc-like:pull",
            'Error response from daemon: Get "https://172.17.0.1:53621/v2/": x509: certificate signed by unknown authority',
            "its TLS certificate is not trusted (a TLS-inspecting proxy?)",
            "/etc/docker/certs.d/172.17.0.1:53621/ca.crt for Docker's pull and in docker_files/certs/ for the build",
        ),
        (
            "nosuch/image:1",
            "Error response from daemon: pull access denied for nosuch/image, repository does not exist or may "
            "require 'docker login': denied: requested access to the resource is denied",
            "no such image there, or it needs a login",
            "`docker login docker.io`",
        ),
    ],
)
def test_a_failed_pull_is_one_sentence_with_its_fix(ref: str, stderr: str, why: str, fix: str) -> None:
    err = translate.pull_failure("torch", ref, stderr + "\n")
    assert isinstance(err, ImageMissing) and err.exit_code == 4
    first = ref.partition("/")[0]
    registry = first if "." in first or ":" in first else "docker.io"
    assert err.message == f"the base image {ref} of torch could not be fetched from {registry}: {why}."
    assert fix in (err.hint or "") and (err.hint or "").endswith("left as it was.")
    assert err.detail == stderr.removeprefix("Error response from daemon: ")
