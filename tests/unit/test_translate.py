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
