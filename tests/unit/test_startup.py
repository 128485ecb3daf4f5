"""The lab's kernel start-up file, run as IPython runs it, against fake torch / tensorflow."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


def fake_torch() -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.backends = types.SimpleNamespace(  # type: ignore[attr-defined]
        cudnn=types.SimpleNamespace(benchmark=False, allow_tf32=False),
        cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False)),
    )
    torch.precision = "highest"  # type: ignore[attr-defined]

    def set_precision(value: str) -> None:
        torch.precision = value  # type: ignore[attr-defined]

    torch.set_float32_matmul_precision = set_precision  # type: ignore[attr-defined]
    return torch


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture
def torch(env: pytest.MonkeyPatch) -> types.ModuleType:
    fake = fake_torch()
    env.setitem(sys.modules, "torch", fake)  # restored (real torch or none) afterwards
    return fake


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
    namespace = run_startup()
    assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cuda.matmul.allow_tf32 is True
    assert torch.backends.cudnn.allow_tf32 is True
    assert torch.precision == "high"
    # silent on success, and nothing leaks into the notebook's namespace
    assert capsys.readouterr() == ("", "")
    assert set(namespace) <= {"__name__", "__builtins__", "__doc__"}


def test_zero_leaves_pytorch_defaults(torch: types.ModuleType, env: pytest.MonkeyPatch) -> None:
    env.setenv("JLC_CUDNN_BENCHMARK", "0")
    env.setenv("JLC_TF32", "0")
    run_startup()
    assert torch.backends.cudnn.benchmark is False
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.precision == "highest"


@pytest.mark.parametrize(("bench", "tf32"), [("1", "0"), ("0", "true")])
def test_each_switch_alone(torch: types.ModuleType, env: pytest.MonkeyPatch, bench: str, tf32: str) -> None:
    env.setenv("JLC_CUDNN_BENCHMARK", bench)
    env.setenv("JLC_TF32", tf32)
    run_startup()
    assert torch.backends.cudnn.benchmark is (bench == "1")
    assert (torch.precision == "high") is (tf32 == "true")


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
    assert torch.precision == "high"
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


def test_real_torch_in_a_fresh_interpreter() -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
    probe = textwrap.dedent(
        f"""
        import warnings; warnings.simplefilter("ignore")
        exec(compile(open({str(STARTUP)!r}).read(), "startup", "exec"), {{}})
        import torch
        print(torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
              torch.get_float32_matmul_precision())
        """
    )
    env = {"PATH": "/usr/bin:/bin", "JLC_TF32": "1", "JLC_CUDNN_BENCHMARK": "1"}
    done = subprocess.run(  # our own interpreter and script
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "high"]
    assert "jlcompose:" not in done.stderr
