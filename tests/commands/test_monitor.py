"""monitor: in a lab through the engine, on the host through NVML or nvidia-smi, and no GPU."""

from __future__ import annotations

import json
import stat
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from jlcompose import cli
from jlcompose.engine.api import ContainerInfo
from jlcompose.errors import JlcomposeError
from jlcompose.gpu import monitor as monitor_module
from jlcompose.gpu.monitor import monitor
from jlcompose.project import Project
from tests.fakes import FakeEngine

DATA = Path(__file__).resolve().parents[1] / "data" / "dmon"
BUSY = (DATA / "h200-driver580-busy.txt").read_text().splitlines()
UNDERUSED = (DATA / "h200-driver580-underused.txt").read_text().splitlines()
NOT_FOUND = (
    "OCI runtime exec failed: exec failed: unable to start container process: "
    'exec: "nvidia-smi": executable file not found in $PATH: unknown'
)


def _lab(engine: FakeEngine, service: str = "torch") -> FakeEngine:
    engine.running[service] = ContainerInfo(
        id="c1",
        name=f"demo-{service}-1",
        service=service,
        project="demo",
        state="running",
        health="healthy",
        image="x",
        gpu=True,
    )
    return engine


def _json_lines(out: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    docs = [json.loads(line) for line in out.splitlines()]
    return docs[:-1], docs[-1]


def test_underused_lab_warns_with_hints(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.exec_handler = lambda service, argv, user: (0, UNDERUSED)
    assert monitor(project, _lab(engine), "torch", interval=1, count=6, as_json=True) == 0
    assert engine.calls[-1][:3] == (
        "exec",
        "torch",
        ("nvidia-smi", "dmon", "-s", "um", "-d", "1", "-c", "6"),
    )
    samples, end = _json_lines(capsys.readouterr().out)
    assert [s["sm"] for s in samples] == [91, 36, 29, 36, 34, 34]
    (summary,) = end["summary"]  # dmon's first row reports the time before the run: left out
    assert summary["sm_mean"] == pytest.approx(169 / 5) and summary["sm_min"] == 29
    assert summary["samples"] == 5 and summary["first_dropped"] is True
    assert len(end["warnings"]) == 1 and "34 %" in end["warnings"][0]
    assert any("pin_memory" in h for h in end["hints"])


def test_busy_lab_does_not_warn(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.exec_handler = lambda service, argv, user: (0, BUSY)
    assert monitor(project, _lab(engine), "torch", interval=1, count=6, as_json=False) == 0
    err = capsys.readouterr().err
    assert "GPU 0: SM 99 %" in err  # one line per sample when not on a terminal
    summary = err[err.index("summary") :]
    assert "99 %" in summary and "98 %" in summary and "27 %" not in summary
    assert "busy only" not in err and "what usually helps" not in err


def test_text_summary_names_the_hints(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.exec_handler = lambda service, argv, user: (0, UNDERUSED)
    monitor(project, _lab(engine), "torch", interval=1, count=6, as_json=False)
    err = capsys.readouterr().err
    assert "SMs busy only 34 %" in err and "what usually helps" in err and "num_workers" in err


def test_without_count_it_runs_in_short_execs_until_ctrl_c(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Sequence[str]] = []

    def handler(service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        calls.append(argv)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return 0, BUSY if len(calls) == 1 else UNDERUSED

    engine.exec_handler = handler
    assert monitor(project, _lab(engine), "torch", interval=2, count=None, as_json=True) == 0
    assert all(list(a[-4:]) == ["-d", "2", "-c", str(monitor_module.CHUNK)] for a in calls)
    samples, end = _json_lines(capsys.readouterr().out)
    # only the session's first row is from before it; the next run's first row is not
    assert len(samples) == 12 and end["summary"][0]["samples"] == 11
    assert end["summary"][0]["sm_mean"] == pytest.approx((521 - 27 + 260) / 11)


def test_a_lab_without_gpu_is_one_clear_error(project: Project, engine: FakeEngine) -> None:
    engine.exec_handler = lambda service, argv, user: (126, [NOT_FOUND])
    with pytest.raises(JlcomposeError, match="no GPU in the torch lab") as exc:
        monitor(project, _lab(engine), "torch", interval=1, count=None, as_json=False)
    assert "executable file not found" in (exc.value.detail or "")


def test_a_stopped_lab(project: Project, engine: FakeEngine) -> None:
    with pytest.raises(JlcomposeError, match="the tf lab is not running"):
        monitor(project, engine, "tf", interval=1, count=1, as_json=False)


class FakeNvml(types.SimpleNamespace):
    """pynvml's calls that NvmlSampler makes, for two GPUs."""

    def __init__(self) -> None:
        super().__init__(shutdowns=0, polls=0)

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        self.polls += 1
        return types.SimpleNamespace(gpu=[80, 10][h], memory=[40, 5][h])

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return types.SimpleNamespace(used=2048 * 2**20, total=143771 * 2**20)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1


def test_host_through_nvml(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    nvml = FakeNvml()
    monkeypatch.setattr(monitor_module, "load_nvml", lambda: nvml)
    assert monitor(None, None, None, interval=0.001, count=3, as_json=True) == 0
    samples, end = _json_lines(capsys.readouterr().out)
    assert len(samples) == 6 and nvml.polls == 6 and nvml.shutdowns == 1
    assert samples[0] == {
        "gpu": 0,
        "sm": 80.0,
        "mem": 40.0,
        "fb_used_mib": 2048.0,
        "fb_total_mib": 143771.0,
        "stamp": None,
    }
    by_gpu = {s["gpu"]: s for s in end["summary"]}
    assert by_gpu[0]["sm_mean"] == 80 and by_gpu[1]["sm_mean"] == 10
    assert len(end["warnings"]) == 1 and end["warnings"][0].startswith("GPU 1:")


def test_host_through_nvidia_smi(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = tmp_path / "args"
    smi = tmp_path / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\necho "$@" > {args}\ncat {DATA / "h200-driver580-busy.txt"}\n')
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(monitor_module, "load_nvml", lambda: None)
    monkeypatch.setattr(monitor_module, "smi_path", lambda: str(smi))
    assert monitor(None, None, None, interval=1, count=6, as_json=True) == 0
    assert args.read_text().split() == ["dmon", "-s", "um", "-d", "1", "-c", "6"]
    samples, end = _json_lines(capsys.readouterr().out)
    assert [s["sm"] for s in samples] == [27, 99, 98, 99, 99, 99] and end["warnings"] == []


def test_no_gpu_anywhere_exits_non_zero_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(monitor_module, "load_nvml", lambda: None)
    monkeypatch.setattr(monitor_module, "smi_path", lambda: None)
    assert cli.main(["monitor", "--once"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: no NVIDIA GPU found on this machine" in err
    assert err.count("error:") == 1


def test_bad_arguments() -> None:
    assert cli.main(["monitor", "--interval", "0"]) == 2
