from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from jlcompose.engine.api import LineSink, Stack
from jlcompose.errors import BuildFailed, StartFailed, UnknownService, UsageError
from jlcompose.lab import start as up_module
from jlcompose.lab.up import up
from jlcompose.project import Project
from tests.commands.conftest import on_cpu
from tests.fakes import FakeEngine


@pytest.fixture(autouse=True)
def _lab_answers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    waits: list[Any] = []

    def answers(*args: Any, **kwargs: Any) -> bool:
        waits.append(args)
        return True

    monkeypatch.setattr(up_module, "wait_ready", answers)
    monkeypatch.setattr(up_module, "port_in_use", lambda bind, port: False)
    return waits


def builds(engine: FakeEngine) -> list[str]:
    return [c[1] for c in engine.calls if c[0] == "build"]


def test_first_up_builds_probes_gpu_and_prints_url(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert up(project, engine, ["torch"]) == 0
    out, err = capsys.readouterr()
    assert builds(engine) == ["torch"]
    assert ("gpu_probe", engine.running["torch"].image) in engine.calls
    assert "starting on CPU" in err
    assert on_cpu(engine.last_stack) is True
    token = (project.state.path / "token").read_text().strip()
    assert out.strip() == f"http://127.0.0.1:18888/lab?token={token}"
    build_args = next(c[2] for c in engine.calls if c[0] == "build")
    assert build_args["JLC_HASH"] and build_args["BASE_IMAGE"] == "base:1"
    assert engine.running["torch"].image.endswith(":" + build_args["JLC_HASH"][:12])


def test_unchanged_means_no_build_and_no_second_probe(project: Project, engine: FakeEngine) -> None:
    up(project, engine, ["torch"])
    first = engine.running["torch"].id
    engine.calls.clear()
    up(project, engine, ["torch"])
    assert builds(engine) == []
    assert not [c for c in engine.calls if c[0] == "gpu_probe"]
    assert engine.running["torch"].id == first


def test_requirement_edit_rebuilds_and_revert_reuses(project: Project, engine: FakeEngine) -> None:
    req = project.services["torch"].requirements
    original = req.read_text()
    up(project, engine, ["torch"])
    first_image = engine.running["torch"].image
    req.write_text(original + "six\n")
    up(project, engine, ["torch"])
    assert builds(engine) == ["torch", "torch"]
    assert engine.running["torch"].image != first_image
    req.write_text(original)
    up(project, engine, ["torch"])
    assert builds(engine) == ["torch", "torch"]  # no third build
    assert engine.running["torch"].image == first_image


def test_failed_build_touches_nothing(project: Project, engine: FakeEngine) -> None:
    up(project, engine, ["torch"])
    before = engine.running["torch"]
    project.services["torch"].requirements.write_text("broken==0\n")
    engine.fail_build = True
    engine.calls.clear()
    with pytest.raises(BuildFailed):
        up(project, engine, ["torch"])
    assert engine.running["torch"] == before
    assert not [c for c in engine.calls if c[0] in ("up", "down", "remove_container", "stop")]


def test_gpu_engine_keeps_the_reservation(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.gpu = True
    up(project, engine, ["torch"])
    assert on_cpu(engine.last_stack) is False
    assert "CPU" not in capsys.readouterr().err.replace("(GPU)", "")


def test_cpu_flag_skips_the_probe(project: Project, engine: FakeEngine) -> None:
    up(project, engine, ["torch"], gpu="cpu")
    assert not [c for c in engine.calls if c[0] == "gpu_probe"]
    assert all(on_cpu(s) for s in engine.stacks)


def test_gpu_flag_fails_on_a_cpu_engine(project: Project, engine: FakeEngine) -> None:
    with pytest.raises(StartFailed) as exc:
        up(project, engine, ["torch"], gpu="gpu")
    assert "no NVIDIA runtime" in exc.value.message
    assert "torch" not in engine.running


def test_no_build_refuses_a_missing_image(project: Project, engine: FakeEngine) -> None:
    with pytest.raises(UsageError) as exc:
        up(project, engine, ["torch"], no_build=True)
    assert "--no-build" in exc.value.message and builds(engine) == []


def test_unknown_service(project: Project, engine: FakeEngine) -> None:
    with pytest.raises(UnknownService) as exc:
        up(project, engine, ["pytorch"])
    assert "tf, torch" in exc.value.message


def test_port_in_use_starts_nothing(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_module, "port_in_use", lambda bind, port: True)
    with pytest.raises(StartFailed) as exc:
        up(project, engine, ["torch"])
    assert "port 18888" in exc.value.message
    assert not [c for c in engine.calls if c[0] == "up"]


def test_hot_installed_lab_keeps_running_until_recreate(project: Project, engine: FakeEngine) -> None:
    up(project, engine, ["torch"])
    running = engine.running["torch"]
    project.services["torch"].requirements.write_text("six\n")
    project.state.update(lambda s: setattr(s.service("torch"), "hot_installed", ["six"]))
    up(project, engine, ["torch"])
    assert builds(engine) == ["torch", "torch"]  # the new image is built...
    assert engine.running["torch"] == running  # ...but the lab with six keeps running
    up(project, engine, ["torch"], recreate=True)
    assert engine.running["torch"].id != running.id
    assert project.state.read().peek("torch").hot_installed == []


def test_lab_that_never_answers(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_module, "wait_ready", lambda *a, **k: False)
    with pytest.raises(StartFailed) as exc:
        up(project, engine, ["torch"])
    assert "did not answer" in exc.value.message and "Jupyter Server is running" in (exc.value.detail or "")


def test_two_services_each_get_a_url(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    up(project, engine, ["torch", "tf"])
    urls = capsys.readouterr().out.split()
    assert [u.split("/lab")[0] for u in urls] == [
        "http://127.0.0.1:18888",
        "http://127.0.0.1:18889",
    ]
    assert sorted(builds(engine)) == ["tf", "torch"]


def test_token_is_stable_private_and_long(project: Project) -> None:
    t1 = project.state.token()
    assert t1 == project.state.token() and len(t1) >= 32
    assert (project.state.path / "token").stat().st_mode & 0o777 == 0o600


def test_nothing_changed_and_lab_answers_needs_no_engine(
    project: Project,
    engine: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jlcompose.lab import fastpath

    up(project, engine, ["torch"])
    first = capsys.readouterr().out
    monkeypatch.setattr(fastpath, "status_code", lambda address, token, timeout=1.0: 200)
    engine.calls.clear()
    engine.stacks.clear()
    assert up(project, engine, ["torch"]) == 0
    out, err = capsys.readouterr()
    assert engine.calls == [] and engine.stacks == [] and out == first and "nothing changed" in err
    # any input change takes the full path again
    project.services["torch"].requirements.write_text("six\n")
    up(project, engine, ["torch"])
    assert engine.stacks and builds(engine) == ["torch"]
    # and so does a lab that does not answer
    engine.stacks.clear()
    monkeypatch.setattr(fastpath, "status_code", lambda address, token, timeout=1.0: None)
    up(project, engine, ["torch"])
    assert engine.stacks


def test_added_lines_build_quickly_on_the_previous_image(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    req = project.services["torch"].requirements
    req.write_text("six\n")
    up(project, engine, ["torch"])
    first = engine.running["torch"].image
    req.write_text("six\ntabulate  # tables\n")
    capsys.readouterr()
    up(project, engine, ["torch"])
    err = capsys.readouterr().err
    assert "quick build" in err and "adding tabulate" in err
    override = project.state.path / "quick-torch.yaml"
    quick = [st for st in engine.stacks if override in st.files]
    assert quick and quick[0].files[-1] == override
    assert f"FROM {first}" in override.read_text()
    # a removed line, or --rebuild, means a full build from the base image
    req.write_text("tabulate\n")
    engine.stacks.clear()
    up(project, engine, ["torch"])
    assert not [st for st in engine.stacks if override in st.files]
    req.write_text("tabulate\nsix\n")
    engine.stacks.clear()
    up(project, engine, ["torch"], rebuild=True)
    assert not [st for st in engine.stacks if override in st.files]


def test_failed_quick_build_falls_back_to_a_full_one(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    req = project.services["torch"].requirements
    req.write_text("six\n")
    up(project, engine, ["torch"])
    req.write_text("six\ntabulate\n")
    real_build = engine.build

    failed: list[int] = []

    def build(stack: Stack, service: str, build_args: Mapping[str, str], on_line: LineSink) -> None:
        if stack.files[-1].name.startswith("quick-") and not failed:
            failed.append(1)
            raise BuildFailed("the quick one broke.")
        real_build(stack, service, build_args, on_line)

    engine.build = build  # type: ignore[method-assign]
    up(project, engine, ["torch"])
    err = capsys.readouterr().err
    assert "quick build failed" in err and "building image" in err


def test_a_taken_default_port_moves_to_a_free_one_and_is_remembered(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from jlcompose.engine.api import ContainerInfo
    from jlcompose.lab import ports

    other = ContainerInfo(
        "o1", "theirs-torch-1", "torch", "theirs", "running", None, "img", {"org.jlcompose.hash": "h"}
    )
    engine.published[18888] = other
    monkeypatch.setattr(ports, "port_in_use", lambda bind, port: port in (18888, 18889))
    assert up(project, engine, ["torch"]) == 0
    out, err = capsys.readouterr()
    assert "port 18888 is used by the torch lab of jlcompose project theirs" in err
    assert "the torch lab listens on 18890 instead" in err
    assert out.startswith("http://127.0.0.1:18890/lab?token=")
    assert project.state.read().peek("torch").port == 18890
    assert dict(engine.last_stack.variables)["JLC_TORCH_PORT"] == "18890"
    up(project, engine, ["torch"])  # the next up keeps the remembered port (our own lab holds it)
    assert capsys.readouterr().out.startswith("http://127.0.0.1:18890/")


def test_a_port_you_chose_is_kept_and_a_conflict_is_an_error(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jlcompose.lab import ports

    project.environ = {"JLC_TORCH_PORT": "18888"}
    monkeypatch.setattr(ports, "port_in_use", lambda bind, port: True)
    with pytest.raises(StartFailed) as exc:
        up(project, engine, ["torch"])
    assert "port 18888 on 127.0.0.1 is used by another program" in exc.value.message
    assert "the environment sets it now" in (exc.value.hint or "")
    assert not [c for c in engine.calls if c[0] in ("build", "up")]
