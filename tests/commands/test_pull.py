"""`up` with a base image that is not here: one pull before the hash, with progress; probe and wait."""

from __future__ import annotations

from typing import Any

import pytest

from jlcompose.engine.api import RemoteImage
from jlcompose.errors import ImageMissing, RegistryError, UsageError
from jlcompose.lab import start as start_module
from jlcompose.lab.up import up
from jlcompose.project import Project
from tests.fakes import FakeEngine

LAYERS = tuple((f"sha256:{i:012x}{'e' * 52}", 50_000_000) for i in range(1, 11))  # 10 x 50 MB
NGC = {"CUDA_VERSION": "13.0.2", "CUDA_DRIVER_VERSION": "580.95.05"}


@pytest.fixture(autouse=True)
def _lab_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_module, "wait_ready", lambda *a, **k: True)
    monkeypatch.setattr(start_module, "port_in_use", lambda bind, port: False)


@pytest.fixture
def fresh(engine: FakeEngine) -> FakeEngine:
    """The base image base:1 is only in the registry."""
    engine.image_envs.pop("base:1")
    engine.remote["base:1"] = RemoteImage("base:1", "docker.io", LAYERS, NGC)
    return engine


def kinds(engine: FakeEngine) -> list[str]:
    return [c[0] for c in engine.calls if c[0] in ("remote_image", "pull", "build", "up")]


def test_the_first_up_pulls_once_before_it_builds_and_the_next_changes_nothing(
    project: Project, fresh: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert up(project, fresh, ["torch", "tf"]) == 0  # two labs on one base: one pull
    assert kinds(fresh) == ["remote_image", "pull", "build", "build", "up"]
    assert ("pull", "base:1", "torch") in fresh.calls
    err = capsys.readouterr().err
    assert "> torch: pulling base image base:1 (500 MB in 10 layers); only the first `up` needs this" in err
    steps = [line for line in err.splitlines() if line.startswith("  torch: base image ") and "%" in line]
    assert [line.split("(")[1].split("%")[0] for line in steps][:9] == [str(10 * i) for i in range(1, 10)]
    assert "✓ torch: pulled base:1 in " in err
    # the hash took in the pulled base image: the next `up` finds every image current
    fresh.calls.clear()
    assert up(project, fresh, ["torch", "tf"]) == 0
    assert kinds(fresh) == []


def test_no_pull_for_a_base_image_that_is_here(project: Project, engine: FakeEngine) -> None:
    up(project, engine, ["torch"])
    assert kinds(engine) == ["build", "up"]


def test_no_build_pulls_nothing_either(project: Project, fresh: FakeEngine) -> None:
    with pytest.raises(UsageError, match="--no-build was given"):
        up(project, fresh, ["torch"], no_build=True)
    assert kinds(fresh) == []


def test_without_the_manifest_the_pull_still_runs_and_counts_layers(
    project: Project, fresh: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh.remote["base:1"] = RegistryError(
        "docker.io could not be reached.", kind="unreachable", registry="docker.io"
    )
    fresh.pull_lines["base:1"] = [
        *(f"{i:012x}: Pulling fs layer" for i in range(4)),
        *(f"{i:012x}: Pull complete" for i in range(4)),
    ]
    assert up(project, fresh, ["torch"]) == 0
    err = capsys.readouterr().err
    assert "pulling base image base:1 (size unknown)" in err
    assert "  torch: base image 1 of 4 layers downloaded (25%)" in err
    assert "(4 layers downloaded in " in err


def test_a_failed_pull_builds_and_starts_nothing(project: Project, fresh: FakeEngine) -> None:
    fresh.fail_pull["base:1"] = ImageMissing("the base image base:1 of torch could not be fetched.")
    with pytest.raises(ImageMissing):
        up(project, fresh, ["torch"])
    assert kinds(fresh) == ["remote_image", "pull"]
    assert not fresh.running


def test_the_gpu_probe_and_the_wait_say_what_they_wait_for(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([False, True])  # not within the first second; then it answers

    def ready(*args: Any, **kwargs: Any) -> bool:
        return next(answers)

    monkeypatch.setattr(start_module, "wait_ready", ready)
    assert up(project, engine, ["torch"]) == 0
    err = capsys.readouterr().err.splitlines()
    probe = next(i for i, line in enumerate(err) if line.startswith("checking whether this Docker engine"))
    assert err[probe].endswith("(a throwaway " + engine.running["torch"].image + ") ...")
    assert err[probe + 1].startswith("GPU probe: no GPU, after ") and err[probe + 1].endswith(" s")
    assert "torch: waiting for JupyterLab to answer on http://127.0.0.1:18888 (at most 180 s) ..." in err
    assert any(line.startswith("✓ torch: JupyterLab answered after ") for line in err)


def test_a_lab_that_answers_at_once_needs_no_wait_line(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert up(project, engine, ["torch"]) == 0
    assert "waiting for JupyterLab" not in capsys.readouterr().err
