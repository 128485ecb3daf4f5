"""The lab's kernel start-up file, run as IPython runs it: against both generations of
PyTorch's TF32 settings (tests/fake_torch.py, and the real PyTorch installed here), and a fake
TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jlcompose.gpu import bench
from tests import fake_torch

STARTUP = Path(__file__).resolve().parents[2] / "docker_files/lab/jlcompose_startup.py"
ENV_VARS = ("JLC_CUDNN_BENCHMARK", "JLC_TF32", "JLC_TF_MIXED_PRECISION")
FAKE_TF = '''\
"""A stand-in TensorFlow that records being imported and the Keras policy set."""
import sys
log = sys.modules["jlc_fake_log"]
log.events.append("import tensorflow")


class _MixedPrecision:
    @staticmethod
    def set_global_policy(name):
        log.events.append("policy " + name)


class keras:
    mixed_precision = _MixedPrecision
'''


def run_startup() -> dict[str, Any]:
    """Exec the file in a fresh namespace, as IPython's exec_files does with user_ns."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(STARTUP.read_text(), str(STARTUP), "exec"), namespace)
    return namespace


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture(params=["legacy", "per_backend"])
def torch(request: pytest.FixtureRequest, env: pytest.MonkeyPatch) -> types.ModuleType:
    """PyTorch before 2.9 (allow_tf32 flags) and from 2.9 on (per-backend fp32_precision)."""
    fake: types.ModuleType = getattr(fake_torch, request.param)()
    env.setitem(sys.modules, "torch", fake)  # restored (real torch or none) afterwards
    return fake


TF32_ON = {"get_float32_matmul_precision": "high", "matmul.allow_tf32": True, "cudnn.allow_tf32": True}
TF32_ON_NEW = {"matmul.fp32_precision": "tf32", "conv.fp32_precision": "tf32", "rnn.fp32_precision": "tf32"}
FP32 = {"get_float32_matmul_precision": "highest", "matmul.allow_tf32": False, "cudnn.allow_tf32": False}
FP32_NEW = {"matmul.fp32_precision": "ieee", "conv.fp32_precision": "ieee", "rnn.fp32_precision": "ieee"}


def expected(torch: types.ModuleType, tf32: bool) -> dict[str, Any]:
    """Every reader of PyTorch agrees, none raises."""
    new = bench.torch_new_precision_api(torch)
    if tf32:
        return {**TF32_ON, **(TF32_ON_NEW if new else {})}
    return {**FP32, **(FP32_NEW if new else {})}


@pytest.fixture
def tf_log(env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """A fake `tensorflow` package on sys.path; its import lands in the returned list."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TF)
    log = types.ModuleType("jlc_fake_log")
    log.events = []  # type: ignore[attr-defined]
    env.setitem(sys.modules, "jlc_fake_log", log)
    env.syspath_prepend(str(tmp_path))
    env.delitem(sys.modules, "tensorflow", raising=False)
    yield log.events
    sys.modules.pop("tensorflow", None)


def test_defaults_turn_on_cudnn_benchmark_and_tf32(
    torch: types.ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch 2.9 warns about its older setters: not here
        namespace = run_startup()
    assert torch.backends.cudnn.benchmark is True
    assert fake_torch.every_reading(torch) == expected(torch, tf32=True)
    # silent on success, and nothing leaks into the notebook's namespace
    assert capsys.readouterr() == ("", "")
    assert set(namespace) <= {"__name__", "__builtins__", "__doc__"}


def test_tf32_zero_means_full_fp32_convolutions_included(
    torch: types.ModuleType, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # PyTorch's own default lets cuDNN convolve in TF32; JLC_TF32=0 turns that off too
    assert fake_torch.every_reading(torch)["cudnn.allow_tf32"] is True
    if hasattr(torch, "context"):
        torch.context.warned = False  # the reading above used PyTorch 2.9's one warning up
    env.setenv("JLC_CUDNN_BENCHMARK", "0")
    env.setenv("JLC_TF32", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_startup()
    assert torch.backends.cudnn.benchmark is False
    assert fake_torch.every_reading(torch) == expected(torch, tf32=False)
    assert bench.torch_precision(torch) == {"matmul": "ieee", "conv": "ieee", "rnn": "ieee"}
    assert capsys.readouterr() == ("", "")


def test_only_setting_the_new_api_would_break_the_older_readers() -> None:
    """Why the file writes both views on PyTorch >= 2.9 (and what the fake must reproduce)."""
    torch = fake_torch.per_backend()
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    readings = fake_torch.every_reading(torch)
    assert readings["get_float32_matmul_precision"] == "raises"
    assert readings["matmul.allow_tf32"] == "raises"


def test_a_later_change_with_the_new_api_leaves_the_benchmark_reading(torch: types.ModuleType) -> None:
    run_startup()
    if not bench.torch_new_precision_api(torch):
        torch.backends.cuda.matmul.allow_tf32 = False  # the only spelling before 2.9
        assert bench.torch_precision(torch)["matmul"] == "ieee"
        return
    torch.backends.cuda.matmul.fp32_precision = "ieee"  # a user, after the kernel started
    # PyTorch's own older readers now disagree (its mixed-API check), the benchmark does not
    assert fake_torch.every_reading(torch)["matmul.allow_tf32"] == "raises"
    assert bench.torch_precision(torch) == {"matmul": "ieee", "conv": "tf32", "rnn": "tf32"}
    with bench.torch_fp32(torch, matmul="tf32", conv="ieee"):
        assert bench.torch_precision(torch) == {"matmul": "tf32", "conv": "ieee", "rnn": "tf32"}
    assert bench.torch_precision(torch) == {"matmul": "ieee", "conv": "tf32", "rnn": "tf32"}


@pytest.mark.parametrize(("bench_flag", "tf32"), [("1", "0"), ("0", "true")])
def test_each_switch_alone(
    torch: types.ModuleType, env: pytest.MonkeyPatch, bench_flag: str, tf32: str
) -> None:
    env.setenv("JLC_CUDNN_BENCHMARK", bench_flag)
    env.setenv("JLC_TF32", tf32)
    run_startup()
    assert torch.backends.cudnn.benchmark is (bench_flag == "1")
    assert fake_torch.every_reading(torch) == expected(torch, tf32=tf32 == "true")


def test_a_broken_torch_prints_one_line_and_does_not_raise(
    torch: types.ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(value: str) -> None:
        raise RuntimeError("no such precision")

    torch.set_float32_matmul_precision = refuse  # type: ignore[attr-defined]
    run_startup()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "PyTorch defaults not applied" in err and "no such precision" in err


def test_an_odd_value_warns_and_keeps_the_default(
    torch: types.ModuleType, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("JLC_TF32", "maybe")
    run_startup()
    assert fake_torch.every_reading(torch) == expected(torch, tf32=True)
    assert "JLC_TF32='maybe'" in capsys.readouterr().err


def test_tensorflow_is_not_imported_unless_asked(tf_log: list[str], env: pytest.MonkeyPatch) -> None:
    env.setitem(sys.modules, "torch", None)  # no torch either: nothing to do at all
    run_startup()
    assert tf_log == []
    assert "tensorflow" not in sys.modules


def test_tf_mixed_precision_sets_the_keras_policy(
    tf_log: list[str], env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setitem(sys.modules, "torch", None)
    env.setenv("JLC_TF_MIXED_PRECISION", "1")
    run_startup()
    assert tf_log == ["import tensorflow", "policy mixed_float16"]
    assert capsys.readouterr().err == ""


def test_without_any_framework_it_is_silent(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setitem(sys.modules, "torch", None)
    env.setitem(sys.modules, "tensorflow", None)
    env.setenv("JLC_TF_MIXED_PRECISION", "1")
    run_startup()
    assert capsys.readouterr() == ("", "")


REPO = STARTUP.parents[2]
# steps a user (or a library) might take; the fake must read like the real PyTorch after each
STEPS = [
    "pass",
    "torch.set_float32_matmul_precision('high')",
    "torch.backends.cuda.matmul.fp32_precision = 'ieee'",
    "torch.backends.cuda.matmul.allow_tf32 = True",
    "torch.backends.cudnn.conv.fp32_precision = 'ieee'",
    "torch.backends.cudnn.allow_tf32 = False",
    "torch.backends.cudnn.rnn.fp32_precision = 'ieee'",
    "torch.set_float32_matmul_precision('highest')",
    "torch.backends.cuda.matmul.fp32_precision = 'tf32'",
]


def _real_torch(script: str, **env: str) -> list[Any]:
    """Run `script` in a fresh interpreter with the real PyTorch; it prints JSON lines."""
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
    done = subprocess.run(  # our own interpreter and script
        [sys.executable, "-W", "error", "-W", "ignore:Failed to initialize NumPy", "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # silent: no warning, no "jlcompose:" line
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_fake_per_backend_torch_reads_like_the_real_one() -> None:
    script = textwrap.dedent(
        f"""
        import json, torch
        from tests.fake_torch import every_reading
        for step in {STEPS!r}:
            exec(step)
            print(json.dumps(every_reading(torch)))
        """
    )
    real = _real_torch(script)
    if "matmul.fp32_precision" not in real[0]:
        pytest.skip("the PyTorch installed here predates the per-backend fp32_precision API")
    torch = fake_torch.per_backend()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fake warns as 2.9 does; 2.13 does not
        fake = []
        for step in STEPS:
            exec(step)
            fake.append(fake_torch.every_reading(torch))
    assert fake == real


@pytest.mark.parametrize("tf32", ["1", "0"])
def test_real_torch_in_a_fresh_interpreter(tf32: str) -> None:
    script = textwrap.dedent(
        f"""
        import json
        with open({str(STARTUP)!r}) as fh:
            exec(compile(fh.read(), "startup", "exec"), {{}})
        import torch
        from tests.fake_torch import every_reading
        from jlcompose.gpu import bench
        print(json.dumps([torch.backends.cudnn.benchmark, every_reading(torch)]))
        torch.backends.cuda.matmul.fp32_precision = "ieee"  # a user's later change
        print(json.dumps(bench.torch_precision(torch)))
        """
    )
    (benchmark, readings), later = _real_torch(script, JLC_TF32=tf32, JLC_CUDNN_BENCHMARK="1")
    assert benchmark is True
    torch = pytest.importorskip("torch")
    assert readings == expected(torch, tf32=tf32 == "1")
    rest = "tf32" if tf32 == "1" else "ieee"
    assert later == {"matmul": "ieee", "conv": rest, "rnn": rest}
