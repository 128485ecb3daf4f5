from __future__ import annotations

from typing import Any

import pytest

from jlcompose.commands import up as up_module
from jlcompose.commands.up import up
from jlcompose.errors import BuildFailed, StartFailed, UnknownService, UsageError
from jlcompose.project import Project
from tests.commands.conftest import Factory
from tests.fakes import FakeEngine


@pytest.fixture(autouse=True)
def _lab_answers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    waits: list[Any] = []
    monkeypatch.setattr(up_module, "wait_ready", lambda *a, **k: waits.append(a) or True)
    monkeypatch.setattr(up_module, "port_in_use", lambda bind, port: False)
    return waits


def builds(engine: FakeEngine) -> list[str]:
    return [c[1] for c in engine.calls if c[0] == "build"]


def test_first_up_builds_probes_gpu_and_prints_url(
    project: Project, engine: FakeEngine, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert up(project, ["torch"], engine_factory=factory) == 0
    out, err = capsys.readouterr()
    assert builds(engine) == ["torch"]
    assert ("gpu_probe", engine.running["torch"].image) in engine.calls
    assert "starting on CPU" in err
    assert factory.calls[-1]["cpu"] is True
    token = (project.state_dir / "token").read_text().strip()
    assert out.strip() == f"http://127.0.0.1:18888/lab?token={token}"
    build_args = next(c[2] for c in engine.calls if c[0] == "build")
    assert build_args["JLC_HASH"] and build_args["BASE_IMAGE"] == "base:1"
    assert engine.running["torch"].image.endswith(":" + build_args["JLC_HASH"][:12])


def test_unchanged_means_no_build_and_no_second_probe(
    project: Project, engine: FakeEngine, factory: Factory
) -> None:
    up(project, ["torch"], engine_factory=factory)
    first = engine.running["torch"].id
    engine.calls.clear()
    up(project, ["torch"], engine_factory=factory)
    assert builds(engine) == []
    assert not [c for c in engine.calls if c[0] == "gpu_probe"]
    assert engine.running["torch"].id == first


def test_requirement_edit_rebuilds_and_revert_reuses(
    project: Project, engine: FakeEngine, factory: Factory
) -> None:
    req = project.services["torch"].requirements
    original = req.read_text()
    up(project, ["torch"], engine_factory=factory)
    first_image = engine.running["torch"].image
    req.write_text(original + "six\n")
    up(project, ["torch"], engine_factory=factory)
    assert builds(engine) == ["torch", "torch"]
    assert engine.running["torch"].image != first_image
    req.write_text(original)
    up(project, ["torch"], engine_factory=factory)
    assert builds(engine) == ["torch", "torch"]  # no third build
    assert engine.running["torch"].image == first_image


def test_failed_build_touches_nothing(project: Project, engine: FakeEngine, factory: Factory) -> None:
    up(project, ["torch"], engine_factory=factory)
    before = engine.running["torch"]
    project.services["torch"].requirements.write_text("broken==0\n")
    engine.fail_build = True
    engine.calls.clear()
    with pytest.raises(BuildFailed):
        up(project, ["torch"], engine_factory=factory)
    assert engine.running["torch"] == before
    assert not [c for c in engine.calls if c[0] in ("up", "down", "remove_container", "stop")]


def test_gpu_engine_keeps_the_reservation(
    project: Project, engine: FakeEngine, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.gpu = True
    up(project, ["torch"], engine_factory=factory)
    assert factory.calls[-1]["cpu"] is False
    assert "CPU" not in capsys.readouterr().err.replace("(GPU)", "")


def test_cpu_flag_skips_the_probe(project: Project, engine: FakeEngine, factory: Factory) -> None:
    up(project, ["torch"], gpu="cpu", engine_factory=factory)
    assert not [c for c in engine.calls if c[0] == "gpu_probe"]
    assert all(c["cpu"] for c in factory.calls)


def test_gpu_flag_fails_on_a_cpu_engine(project: Project, engine: FakeEngine, factory: Factory) -> None:
    with pytest.raises(StartFailed) as exc:
        up(project, ["torch"], gpu="gpu", engine_factory=factory)
    assert "no NVIDIA runtime" in exc.value.message
    assert "torch" not in engine.running


def test_no_build_refuses_a_missing_image(project: Project, engine: FakeEngine, factory: Factory) -> None:
    with pytest.raises(UsageError) as exc:
        up(project, ["torch"], no_build=True, engine_factory=factory)
    assert "--no-build" in exc.value.message and builds(engine) == []


def test_unknown_service(project: Project, factory: Factory) -> None:
    with pytest.raises(UnknownService) as exc:
        up(project, ["pytorch"], engine_factory=factory)
    assert "tf, torch" in exc.value.message


def test_port_in_use_starts_nothing(
    project: Project, engine: FakeEngine, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_module, "port_in_use", lambda bind, port: True)
    with pytest.raises(StartFailed) as exc:
        up(project, ["torch"], engine_factory=factory)
    assert "port 18888" in exc.value.message
    assert not [c for c in engine.calls if c[0] == "up"]


def test_hot_installed_lab_keeps_running_until_recreate(
    project: Project, engine: FakeEngine, factory: Factory
) -> None:
    up(project, ["torch"], engine_factory=factory)
    running = engine.running["torch"]
    project.services["torch"].requirements.write_text("six\n")
    project.update_state(lambda s: s["services"]["torch"].update(hot_installed=["six"]))
    up(project, ["torch"], engine_factory=factory)
    assert builds(engine) == ["torch", "torch"]  # the new image is built...
    assert engine.running["torch"] == running  # ...but the lab with six keeps running
    up(project, ["torch"], recreate=True, engine_factory=factory)
    assert engine.running["torch"].id != running.id
    assert project.read_state()["services"]["torch"]["hot_installed"] == []


def test_lab_that_never_answers(
    project: Project, engine: FakeEngine, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_module, "wait_ready", lambda *a, **k: False)
    with pytest.raises(StartFailed) as exc:
        up(project, ["torch"], engine_factory=factory)
    assert "did not answer" in exc.value.message and "Jupyter Server is running" in (exc.value.detail or "")


def test_two_services_each_get_a_url(
    project: Project, engine: FakeEngine, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    up(project, ["torch", "tf"], engine_factory=factory)
    urls = capsys.readouterr().out.split()
    assert [u.split("/lab")[0] for u in urls] == [
        "http://127.0.0.1:18888",
        "http://127.0.0.1:18889",
    ]
    assert sorted(builds(engine)) == ["tf", "torch"]


def test_token_is_stable_private_and_long(project: Project) -> None:
    t1 = project.token()
    assert t1 == project.token() and len(t1) >= 32
    assert (project.state_dir / "token").stat().st_mode & 0o777 == 0o600


def test_nothing_changed_and_lab_answers_needs_no_engine(
    project: Project,
    engine: FakeEngine,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jlcompose import fastpath

    up(project, ["torch"], engine_factory=factory)
    first = capsys.readouterr().out
    monkeypatch.setattr(fastpath, "status_code", lambda address, token, timeout=1.0: 200)
    factory.calls.clear()
    assert up(project, ["torch"], engine_factory=factory) == 0
    out, err = capsys.readouterr()
    assert factory.calls == [] and out == first and "nothing changed" in err
    # any input change takes the full path again
    project.services["torch"].requirements.write_text("six\n")
    up(project, ["torch"], engine_factory=factory)
    assert factory.calls and builds(engine) == ["torch", "torch"]
    # and so does a lab that does not answer
    factory.calls.clear()
    monkeypatch.setattr(fastpath, "status_code", lambda address, token, timeout=1.0: None)
    up(project, ["torch"], engine_factory=factory)
    assert factory.calls


def test_added_lines_build_quickly_on_the_previous_image(
    project: Project, engine: FakeEngine, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    req = project.services["torch"].requirements
    req.write_text("six\n")
    up(project, ["torch"], engine_factory=factory)
    first = engine.running["torch"].image
    req.write_text("six\ntabulate  # tables\n")
    capsys.readouterr()
    up(project, ["torch"], engine_factory=factory)
    err = capsys.readouterr().err
    assert "quick build" in err and "adding tabulate" in err
    override = project.state_dir / "quick-torch.yaml"
    quick_call = [c for c in factory.calls if c["extra_files"]]
    assert quick_call and quick_call[0]["extra_files"] == [override]
    assert f"FROM {first}" in override.read_text()
    # a removed line, or --rebuild, means a full build from the base image
    req.write_text("tabulate\n")
    factory.calls.clear()
    up(project, ["torch"], engine_factory=factory)
    assert not [c for c in factory.calls if c["extra_files"]]
    req.write_text("tabulate\nsix\n")
    factory.calls.clear()
    up(project, ["torch"], rebuild=True, engine_factory=factory)
    assert not [c for c in factory.calls if c["extra_files"]]


def test_failed_quick_build_falls_back_to_a_full_one(
    project: Project, engine: FakeEngine, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    req = project.services["torch"].requirements
    req.write_text("six\n")
    up(project, ["torch"], engine_factory=factory)
    req.write_text("six\ntabulate\n")
    real_build = engine.build

    failed = []

    def build(service, build_args, on_line):  # type: ignore[no-untyped-def]
        if engine.extra_files and not failed:  # the quick build (one fake engine plays both)
            failed.append(1)
            raise BuildFailed("the quick one broke.")
        engine.extra_files = []
        real_build(service, build_args, on_line)

    engine.build = build  # type: ignore[method-assign]
    up(project, ["torch"], engine_factory=factory)
    err = capsys.readouterr().err
    assert "quick build failed" in err and "building image" in err
