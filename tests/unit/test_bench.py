"""The benchmark: a real --quick run on CPU with PyTorch, its JSON, and the side-by-side report."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from jlcompose.core.config import load_config
from jlcompose.errors import JlcomposeError, UnknownService
from jlcompose.gpu import bench, report
from jlcompose.gpu import benchrun as command
from jlcompose.project import Project, discover_services
from tests.conftest import copy_template
from tests.fakes import FakeEngine

BENCH_FILE = Path(bench.__file__)
ROWS = list(bench.ROWS)  # the result schema: every framework, in this order
# what each row's value is per second on the quick sizes (value = work / median seconds)
QUICK = bench.SIZES["quick"]
WORK = {
    "h2d_pageable": QUICK["copy_mib"] * 2**20 / 1e9,
    "d2h_pageable": QUICK["copy_mib"] * 2**20 / 1e9,
    "matmul_fp32": 2 * QUICK["matmul_n"] ** 3 / 1e12,
    "lstm_fp32": QUICK["lstm"][3],
    "conv_autotune_off": QUICK["conv"][0],
}


def _torch() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CPU wheel warns when NumPy is absent
        return pytest.importorskip("torch", reason="PyTorch is not installed: pip install torch")


@pytest.fixture(scope="module")
def quick_torch() -> dict[str, Any]:
    torch = _torch()
    before = (bench.torch_precision(torch), torch.backends.cudnn.benchmark)
    result = bench.run(["torch"], quick=True)
    # the benchmark changes global settings only while it measures
    assert (bench.torch_precision(torch), torch.backends.cudnn.benchmark) == before
    return result


def test_quick_run_json_shape(quick_torch: dict[str, Any]) -> None:
    result = json.loads(json.dumps(quick_torch))  # JSON-ready, nothing lost on the way
    assert result == quick_torch
    assert result["schema"] == bench.SCHEMA and result["quick"] is True
    assert result["missing"] == {}
    (fw,) = result["frameworks"]
    assert fw["framework"] == "torch" and fw["device"] == "cpu" and "skipped" not in fw
    assert fw["elapsed_s"] > 0
    assert [r["name"] for r in fw["rows"]] == ROWS
    for row in fw["rows"]:
        assert set(row) == {
            "name",
            "unit",
            "value",
            "median_s",
            "times_s",
            "sm_util",
            "sm_samples",
            "skipped",
            "note",
        }
        assert row["sm_util"] is None and row["sm_samples"] is None  # no GPU to sample on a CPU run
    assert result["startup"] is None
    settings = fw["settings"]
    assert settings["fp32_precision"] == bench.torch_precision(_torch())
    assert settings["precision_api"] in ("fp32_precision", "allow_tf32")


def test_quick_run_measures_with_medians(quick_torch: dict[str, Any]) -> None:
    rows = {r["name"]: r for r in quick_torch["frameworks"][0]["rows"]}
    for name, work in WORK.items():
        row = rows[name]
        assert row["skipped"] is None, (name, row["skipped"])
        times = row["times_s"]
        assert len(times) >= QUICK["min_repeats"]
        assert all(math.isfinite(t) and t > 0 for t in times)
        assert row["median_s"] == statistics.median(times)
        assert row["value"] == pytest.approx(work / row["median_s"])
        assert math.isfinite(row["value"]) and row["value"] > 0
    for row in rows.values():  # measured or skipped with a reason, never neither
        if row["skipped"] is None:
            assert row["value"] > 0 and math.isfinite(row["value"])
        else:
            assert row["value"] is None and row["skipped"].strip()
    assert rows["h2d_pinned"]["skipped"] == bench.NO_GPU_PINNED
    assert rows["matmul_tf32"]["skipped"] == bench.NO_GPU_TF32
    assert rows["conv_autotune_on"]["skipped"] == bench.NO_GPU_AUTOTUNE
    assert rows["h2d_pageable"]["note"] == bench.HOST_MEMCPY


def test_full_mode_without_gpu_skips_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = _torch()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a GPU machine
    fw = bench.torch_bench(quick=False, progress=bench._quiet)
    assert "no CUDA GPU" in fw["skipped"] and "--quick" in fw["skipped"]
    assert "rows" not in fw


def test_missing_framework_and_a_failing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(quick: bool, progress: bench.Progress) -> dict[str, Any]:
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "tensorflow" else object())
    monkeypatch.setitem(bench.BENCHES, "torch", ("torch", boom))
    result = bench.run(quick=True)
    assert result["missing"] == {"tf": "tensorflow is not installed"}
    (fw,) = result["frameworks"]
    assert fw["skipped"] == "failed: RuntimeError: CUDA error: out of memory"


def test_the_module_imports_only_stdlib_and_frameworks() -> None:
    allowed = set(sys.stdlib_module_names) | {"torch", "tensorflow", "numpy", "pynvml"}
    tree = ast.parse(BENCH_FILE.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    dynamic = {
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and getattr(n.func, "id", "") == "_import"
        and isinstance(n.args[0], ast.Constant)
    }
    assert dynamic == {"torch", "tensorflow", "numpy", "pynvml"}
    assert names <= allowed, names - allowed


def test_source_runs_as_python_c_and_ends_with_json(tmp_path: Path) -> None:
    # how `jlcompose bench SERVICE` runs it in a lab; TensorFlow is absent here: exit 1, JSON
    done = subprocess.run(  # our own interpreter and module text
        [sys.executable, "-c", command.bench_source(), "--json", "--quick", "--only", "tf"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    result = command.parse_result(done.stdout.splitlines())
    assert result is not None, done.stdout + done.stderr
    if result["missing"]:
        assert done.returncode == 1
        assert result["missing"] == {"tf": "tensorflow is not installed"}


def test_text_output(quick_torch: dict[str, Any]) -> None:
    text = bench.format_text(quick_torch)
    assert "(CPU smoke numbers, --quick)" in text
    assert "h2d_pinned" in text and "skipped: pinned memory needs a CUDA device" in text


def test_event_timing_and_the_sampler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU branches without a GPU: CUDA-event-like timing, and nvidia-smi sampling."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "args"}\necho 87\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    sampler = bench.UtilSampler(0, "6df3", settle_s=0.15)
    assert sampler.source == "nvidia-smi"
    assert (tmp_path / "args").read_text().split()[-2:] == ["-i", "GPU-6df3"]

    class Event:  # torch.cuda.Event's interface, on the host clock
        def record(self) -> None:
            self.at = time.perf_counter()

        def elapsed_time(self, end: Event) -> float:
            return (end.at - self.at) * 1e3  # milliseconds, as CUDA events report

    size = {"warmup": 1, "min_repeats": 30, "target_s": 0.3}  # >= 0.3 s: several samples
    b = bench.Bench(size, lambda: None, bench._quiet, sampler, events=Event)
    b.row("sleep", "x/s", 1.0, lambda: time.sleep(0.01))
    (row,) = b.rows
    assert len(row["times_s"]) >= 30 and all(t >= 0.009 for t in row["times_s"])
    assert row["value"] == pytest.approx(1 / row["median_s"])
    assert row["sm_util"] == 87.0 and row["sm_samples"] >= 1


def test_sm_busy_covers_the_timed_repeats_only() -> None:
    """Warm-up (cuDNN's search, tracing) and readings from before the window settled stay out."""
    calls = [0]
    warm = 1 + 1  # the warm-up and the one calibration run, before the timed repeats

    def work() -> None:
        calls[0] += 1
        time.sleep(0.03 if calls[0] <= warm else 0.005)

    def read() -> float:  # what the driver would say: busy in warm-up, 40 % while timed
        return 100.0 if calls[0] <= warm else 40.0

    sampler = bench.UtilSampler.from_reader(read, "fake", settle_s=0.0, interval_s=0.005)
    b = bench.Bench({"warmup": 1, "min_repeats": 20, "target_s": 0.2}, lambda: None, bench._quiet, sampler)
    b.row("w", "x/s", 1.0, work)
    (row,) = b.rows
    assert row["sm_util"] == 40.0 and row["sm_samples"] > 5

    # each reading covers the driver's last period: the first ones, time before the window
    first: list[float] = []

    def driver() -> float:  # busy in the period that ended just after the window opened
        first.append(time.perf_counter())
        return 100.0 if first[-1] - first[0] < 0.05 else 30.0

    sampler = bench.UtilSampler.from_reader(driver, "fake", settle_s=0.1, interval_s=0.005)
    b = bench.Bench({"warmup": 0, "min_repeats": 1, "target_s": 0.25}, lambda: None, bench._quiet, sampler)
    b.row("s", "x/s", 1.0, lambda: time.sleep(0.01))
    assert b.rows[0]["sm_util"] == 30.0


def test_a_row_that_raises_or_loses_autocast_is_skipped() -> None:
    b = bench.Bench(QUICK, lambda: None, bench._quiet)

    def lost() -> None:
        warnings.warn(
            "In CPU autocast, but the target dtype is not supported. Disabling autocast.",
            UserWarning,
            stacklevel=1,
        )

    b.row("boom", "x/s", 1.0, lambda: 1 / 0)
    b.row("lost", "x/s", 1.0, lost)
    assert [r["skipped"] for r in b.rows] == [
        "failed: ZeroDivisionError: division by zero",
        "In CPU autocast, but the target dtype is not supported. Disabling autocast.",
    ]


# -- the side-by-side report, from recorded results -------------------------------------
def _row(name: str, unit: str, value: float | None, skipped: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "unit": unit,
        "value": value,
        "median_s": None,
        "times_s": [],
        "sm_util": 90.0 if value else None,
        "sm_samples": 9 if value else None,
        "skipped": skipped,
        "note": None,
    }


# torch: figures of the plain PyTorch probe on an H200; tf: made-up test values
TORCH = {
    "framework": "torch",
    "version": "2.11.0",
    "device": "NVIDIA H200",
    "rows": [
        _row("h2d_pageable", "GB/s", 9.096),
        _row("h2d_pinned", "GB/s", 55.495),
        _row("matmul_fp32", "TFLOP/s", 50.63),
        _row("matmul_tf32", "TFLOP/s", 405.4),
        _row("lstm_fp32", "seq/s", 12960.1),
        _row("lstm_amp", "seq/s", 20067.8),
    ],
}
TF = {
    "framework": "tf",
    "version": "2.17.0",
    "device": "NVIDIA H200",
    "rows": [
        _row("h2d_pageable", "GB/s", 8.0),
        _row("h2d_pinned", "GB/s", None, "no pinned API"),
        _row("matmul_fp32", "TFLOP/s", 45.0),
        _row("matmul_tf32", "TFLOP/s", 390.0),
        _row("lstm_fp32", "seq/s", 10000.0),
        _row("lstm_amp", "seq/s", 9000.0),
        _row("conv_autotune_on", "img/s", 800.0),
    ],
}


def _runs() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("torch", {"frameworks": [TORCH], "missing": {}}),
        ("tf", {"frameworks": [TF], "missing": {"torch": "torch is not installed"}}),
    ]


def test_side_by_side_with_ratios() -> None:
    header, rows = report.side_by_side(report.columns(_runs()))
    assert header == ["test", "unit", "torch", "tf", "tf / torch"]
    table = {r[0]: r for r in rows}
    assert table["h2d_pageable"] == ["h2d_pageable", "GB/s", "9.1", "8", "0.88x"]
    assert table["h2d_pinned"] == ["h2d_pinned", "GB/s", "55.5", "skipped", "-"]
    assert table["matmul_tf32"] == ["matmul_tf32", "TFLOP/s", "405", "390", "0.96x"]
    assert table["lstm_amp"] == ["lstm_amp", "seq/s", "20,068", "9,000", "0.45x"]
    assert table["conv_autotune_on"] == ["conv_autotune_on", "img/s", "-", "800", "-"]
    assert [r[0] for r in rows][-1] == "conv_autotune_on"  # first column's order, then new


def test_speedups_within_a_framework() -> None:
    assert report.speedups(TORCH) == [
        ("pinned vs pageable copy to GPU", "6.10x"),
        ("TF32 vs fp32 matmul", "8.01x"),
        ("AMP vs fp32 LSTM step", "1.55x"),
    ]


def test_labels_not_run_and_skipped() -> None:
    runs = [("", {"frameworks": [TORCH, {"framework": "tf", "skipped": "no GPU"}], "missing": {}})]
    assert [label for label, _fw in report.columns(runs)] == ["torch"]
    assert report.not_run(runs) == ["tf: no GPU"]
    assert report.not_run(_runs()) == ["tf lab: torch is not installed"]
    assert [label for label, _ in report.columns([("lab", {"frameworks": [TORCH]})])] == ["lab:torch"]
    assert report.skipped_reasons(report.columns(_runs())) == ["tf h2d_pinned: no pinned API"]


# -- the command, against a fake engine -------------------------------------------------
@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = copy_template(tmp_path / "demo")
    cfg = load_config(root, {})
    return Project(config=cfg, services=discover_services(cfg), environ={})


def _running(engine: FakeEngine, *services: str) -> None:
    engine.start(*services)


def test_command_runs_the_source_in_each_lab(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    applied = {"path": command.LAB_STARTUP, "applied": True, "error": None}
    failed = {"path": command.LAB_STARTUP, "applied": False, "error": "FileNotFoundError: x"}
    settings = {"cudnn_benchmark": True, "fp32_precision": {"matmul": "tf32", "conv": "tf32", "rnn": "tf32"}}
    replies = {
        "torch": {"schema": 2, "quick": False, "startup": applied, "missing": {}},
        "tf": {"schema": 2, "quick": False, "startup": failed, "frameworks": [TF], "missing": {}},
    }
    replies["torch"]["frameworks"] = [{**TORCH, "settings": settings}]

    def handler(service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        assert argv[:2] == ["python3", "-c"] and argv[2] == command.bench_source()
        # the lab's kernel start-up file runs first: the rows measure what a notebook gets
        assert argv[3:] == ["--json", "--startup", command.LAB_STARTUP] and user is None
        return 0, ["bench: torch: matmul_fp32 ...", json.dumps(replies[service]), "bye"]

    engine = FakeEngine(exec_handler=handler)
    _running(engine, "torch", "tf")
    assert command.bench(project, engine, ["torch", "tf"], quick=False, as_json=False) == 0
    out, err = capsys.readouterr()
    assert "tf / torch" in out and "0.96x" in out and "pinned vs pageable copy to GPU: 6.10x" in out
    assert "defaults: cuDNN benchmark on; fp32 precision: matmul tf32, conv tf32, rnn tf32" in out
    assert f"torch: measured with the kernel start-up defaults ({command.LAB_STARTUP})" in err
    assert "tf: measured with the start-up file" in err and "did not run (FileNotFoundError: x)" in err
    assert command.bench(project, engine, ["torch"], quick=False, as_json=True) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (
        doc["runs"][0]["where"] == "torch" and doc["runs"][0]["frameworks"] == replies["torch"]["frameworks"]
    )


def test_command_refusals(project: Project) -> None:
    engine = FakeEngine(exec_handler=lambda s, a, u: (1, ["Traceback ...", "ImportError: x"]))
    with pytest.raises(UnknownService):
        command.bench(project, engine, ["nope"], quick=False, as_json=False)
    with pytest.raises(JlcomposeError, match="the torch lab is not running"):
        command.bench(project, engine, ["torch"], quick=False, as_json=False)
    _running(engine, "torch")
    with pytest.raises(JlcomposeError, match="gave no result in the torch lab") as exc:
        command.bench(project, engine, ["torch"], quick=True, as_json=False)
    assert "ImportError: x" in (exc.value.detail or "")
    assert engine.calls[-1][2][-1] == "--quick" and "--startup" in engine.calls[-1][2]


def test_command_locally_with_nothing_measured() -> None:
    def local(quick: bool) -> dict[str, Any]:
        return {
            "frameworks": [{"framework": "torch", "skipped": "PyTorch sees no CUDA GPU"}],
            "missing": {"tf": "tensorflow is not installed"},
        }

    with pytest.raises(JlcomposeError, match="nothing was measured") as exc:
        command.bench(None, None, [], quick=False, as_json=False, local=local)
    assert exc.value.message == (
        "nothing was measured (torch: PyTorch sees no CUDA GPU; tensorflow is not installed)."
    )
    assert exc.value.hint is not None and "--quick" in exc.value.hint


# -- TensorFlow's copy rows, against a model of its eager runtime -----------------------
class FakeTF:
    """TensorFlow's eager copies as they behave: a tensor used on another device gets a copy
    there that stays with that tensor (sending it again moves nothing), `.numpy()` of a device
    tensor keeps its host copy, and `tf.identity` on a tensor's own device shares its bytes."""

    keras = None

    class Tensor:
        def __init__(self, tf: FakeTF, device: str, content: object, nbytes: int) -> None:
            self.tf, self.device, self.content, self.nbytes = tf, device, content, nbytes
            self.mirrors: dict[str, FakeTF.Tensor] = {}
            self.host: object = None

        def numpy(self) -> object:
            if self.device != "/CPU:0" and self.host is None:
                self.tf.moved.append(("d2h", self.nbytes, self.content))
                self.host = self.content
            return self.content if self.device == "/CPU:0" else self.host

        def __getitem__(self, index: int) -> FakeTF.Tensor:
            return FakeTF.Tensor(self.tf, self.device, ("element", self.content), 4)

    def __init__(self) -> None:
        self.where = "/CPU:0"
        self.moved: list[tuple[str, int, object]] = []
        self.made = 0
        self.random = types.SimpleNamespace(normal=self._normal)

    @contextlib.contextmanager
    def device(self, name: str) -> Iterator[None]:
        before, self.where = self.where, name
        try:
            yield
        finally:
            self.where = before

    def _normal(self, shape: list[int]) -> FakeTF.Tensor:
        self.made += 1
        return FakeTF.Tensor(self, self.where, f"random #{self.made}", 4 * shape[0])

    def identity(self, x: FakeTF.Tensor) -> FakeTF.Tensor:
        if x.device == self.where:
            return FakeTF.Tensor(self, x.device, x.content, x.nbytes)  # same bytes, new handle
        if self.where not in x.mirrors:
            self.moved.append(("h2d" if x.device == "/CPU:0" else "d2h", x.nbytes, x.content))
            x.mirrors[self.where] = FakeTF.Tensor(self, self.where, x.content, x.nbytes)
        mirror = x.mirrors[self.where]
        return FakeTF.Tensor(self, self.where, mirror.content, mirror.nbytes)

    def reshape(self, t: FakeTF.Tensor, shape: list[int]) -> FakeTF.Tensor:
        return FakeTF.Tensor(self, t.device, t.content, t.nbytes)

    def big(self, kind: str) -> list[object]:
        return [content for k, n, content in self.moved if k == kind and n > 4]


def test_the_model_shows_why_sending_one_tensor_again_measures_nothing() -> None:
    tf = FakeTF()
    with tf.device("/CPU:0"):
        host = tf.random.normal([2**20])
    with tf.device("/GPU:0"):
        device = tf.random.normal([2**20])
    for _ in range(5):  # what the TensorFlow rows did before: one tensor, sent again and again
        with tf.device("/GPU:0"):
            tf.identity(host)
        device.numpy()
    assert len(tf.big("h2d")) == 1 and len(tf.big("d2h")) == 1


def test_tf_copy_rows_move_the_bytes_on_every_repetition() -> None:
    tf = FakeTF()
    with tf.device("/CPU:0"):
        hosts = [tf.random.normal([2**20]), tf.random.normal([2**20])]
    with tf.device("/GPU:0"):
        devices = [tf.random.normal([2**20]), tf.random.normal([2**20])]
    h2d, d2h = bench.tf_copy_steps(tf, "/GPU:0", hosts, devices, lambda t: None)
    arrived = [h2d().content for _ in range(6)]
    fetched = [d2h() for _ in range(6)]
    assert len(tf.big("h2d")) == 6 and len(tf.big("d2h")) == 6
    # what arrives shows which repetition sent it: the buffers take turns
    assert arrived == [hosts[1].content, hosts[0].content] * 3
    assert fetched == [devices[1].content, devices[0].content] * 3


def test_tf_copy_rows_as_the_benchmark_runs_them() -> None:
    tf = FakeTF()
    t = bench._TF(tf, "/GPU:0", cuda=True, fetch=True)
    b = bench.Bench(QUICK, lambda: None, bench._quiet)
    bench._tf_copies(b, t)
    rows = {r["name"]: r for r in b.rows}
    for name, kind in (("h2d_pageable", "h2d"), ("d2h_pageable", "d2h")):
        calls = QUICK["warmup"] + 1 + len(rows[name]["times_s"])  # warm-up, calibration, timed
        assert len(tf.big(kind)) == calls, (name, tf.moved)
        assert rows[name]["value"] > 0
    assert rows["h2d_pinned"]["skipped"] == bench.NO_TF_PINNED


def test_startup_file_runs_first_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    startup = tmp_path / "startup.py"
    startup.write_text("import os\nos.environ['JLC_BENCH_TEST_MARK'] = 'ran'\n")
    monkeypatch.delenv("JLC_BENCH_TEST_MARK", raising=False)
    monkeypatch.setitem(bench.BENCHES, "torch", ("json", lambda quick, progress: {"framework": "torch"}))
    result = bench.run(["torch"], quick=True, startup=str(startup))
    assert result["startup"] == {"path": str(startup), "applied": True, "error": None}
    assert os.environ["JLC_BENCH_TEST_MARK"] == "ran"
    missing = bench.run(["torch"], quick=True, startup=str(tmp_path / "absent.py"))
    assert missing["startup"]["applied"] is False
    assert missing["startup"]["error"].startswith("FileNotFoundError")
    assert "did not run" in bench.format_text(missing).splitlines()[0]
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no')\n")
    assert bench.run(["torch"], quick=True, startup=str(broken))["startup"]["error"] == "RuntimeError: no"
