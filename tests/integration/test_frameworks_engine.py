"""Both frameworks for real: a PyTorch lab and a TensorFlow lab (CPU builds), the way users run
them: `jlcompose bench`, kernels started through JupyterLab, the example notebook.

The labs are built FROM jlcompose-test/torch-cpu and jlcompose-test/tf-cpu (scripts/engine.sh
frameworks: the local lab base plus CPU PyTorch 2.13 / TensorFlow 2.21 with tf_keras, NumPy and
matplotlib). One pair of labs serves the whole module; the test that edits .env runs last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jlcompose.gpu import bench, benchrun, report
from tests.conftest import REPO, container_id, copy_template, drop_project, free_port, run_cli

pytestmark = pytest.mark.docker

TORCH_IMAGE = "jlcompose-test/torch-cpu:" + os.environ.get("JLC_TEST_TORCH_VERSION", "2.13.0")
TF_IMAGE = "jlcompose-test/tf-cpu:" + os.environ.get("JLC_TEST_TF_VERSION", "2.21.0")
SAVED = REPO / ".test-cache" / "frameworks"  # the CI run's figures, for docs/gpu.md
ROWS = list(bench.ROWS)
MEASURED_ON_CPU = ("h2d_pageable", "d2h_pageable", "matmul_fp32", "lstm_fp32", "conv_autotune_off")


def _ensure_images() -> None:
    missing = [
        image
        for image in (TORCH_IMAGE, TF_IMAGE)
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]
    if missing:  # scripts/test makes them first; a lone pytest run makes them here (minutes)
        done = subprocess.run(["bash", str(REPO / "scripts/engine.sh"), "frameworks"], text=True)
        assert done.returncode == 0, f"scripts/engine.sh frameworks failed: {missing} missing"


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _ensure_images()
    root = copy_template(tmp_path_factory.mktemp("fw") / "proj")
    # the example project's own files, as scripts/lab uses them (jlcompose's files come from copy_template)
    # (not what scripts/lab may have written there: its own stack, state, results)
    made_here = ("*.json", "*.png", ".jlcompose", "compose", "docker_files", ".env", ".env.example")
    shutil.copytree(
        REPO / "examples/lstm", root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*made_here)
    )
    name = f"jlcf{uuid.uuid4().hex[:8]}"
    (root / ".env").write_text(
        f"JLC_PROJECT={name}\nJLC_TORCH_BASE={TORCH_IMAGE}\nJLC_TF_BASE={TF_IMAGE}\n"
        f"JLC_TORCH_PORT={free_port()}\nJLC_TF_PORT={free_port()}\nJLC_SHM_SIZE=256m\n"
    )
    up = run_cli("up", "torch", "tf", "--cpu", cwd=root, timeout=1200)
    assert up.returncode == 0, up.stderr
    yield root
    drop_project(root, name)


def _port(root: Path, service: str) -> str:
    found = re.search(rf"JLC_{service.upper()}_PORT=(\d+)", (root / ".env").read_text())
    assert found is not None
    return found.group(1)


def in_kernel(root: Path, service: str, code: str) -> Any:
    """Start a kernel in the running lab through JupyterLab's API (as a notebook does), run
    `code`, which prints one JSON value last, and return it."""
    from jupyter_kernel_client import JupyterKernelClient

    token = (root / ".jlcompose/token").read_text().strip()
    client = JupyterKernelClient(server_url=f"http://127.0.0.1:{_port(root, service)}", token=token)
    client.start()
    try:
        reply = client.execute(code, timeout=180)
    finally:
        client.stop()
    texts = [str(o.get("text") or o.get("evalue") or "") for o in reply.get("outputs", [])]
    lines = "".join(texts).strip().splitlines()
    assert lines, reply
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise AssertionError(f"no JSON from the {service} kernel: {texts}") from None


TORCH_KERNEL = """
import json, sys
import torch
b = torch.backends
print(json.dumps({
    "benchmark": b.cudnn.benchmark,
    "get_float32_matmul_precision": torch.get_float32_matmul_precision(),
    "matmul.allow_tf32": b.cuda.matmul.allow_tf32,
    "cudnn.allow_tf32": b.cudnn.allow_tf32,
    "fp32_precision": [b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision],
}))
"""
TF_KERNEL = """
import json, os, sys
at_start = "tensorflow" in sys.modules
import tensorflow as tf
print(json.dumps({
    "imported_at_start": at_start,
    "policy": tf.keras.mixed_precision.global_policy().name,
    "allow_growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH"),
}))
"""


def test_bench_measures_both_frameworks_in_their_labs(labs: Path) -> None:
    done = run_cli("bench", "torch", "tf", "--quick", "--json", cwd=labs, timeout=900)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    SAVED.mkdir(parents=True, exist_ok=True)
    (SAVED / "bench-quick.json").write_text(json.dumps(doc, indent=1))
    runs = {run["where"]: run for run in doc["runs"]}
    assert set(runs) == {"torch", "tf"}
    for where, run in runs.items():
        assert run["schema"] == bench.SCHEMA and run["quick"] is True
        # the lab's kernel start-up file ran first: the rows measure what a notebook gets
        assert run["startup"] == {"path": benchrun.LAB_STARTUP, "applied": True, "error": None}
        (fw,) = run["frameworks"]
        assert fw["framework"] == where and fw["device"] == "cpu"
        rows = {r["name"]: r for r in fw["rows"]}
        assert list(rows) == ROWS
        for name in MEASURED_ON_CPU:
            assert rows[name]["skipped"] is None and rows[name]["value"] > 0, (where, rows[name])
        for row in rows.values():  # measured, or skipped with its reason
            assert (row["value"] is None) == bool(row["skipped"]), row
    torch_settings = runs["torch"]["frameworks"][0]["settings"]
    assert torch_settings["cudnn_benchmark"] is True  # JLC_CUDNN_BENCHMARK's default
    assert torch_settings["precision_api"] == "fp32_precision"  # PyTorch 2.13
    assert torch_settings["fp32_precision"] == {"matmul": "tf32", "conv": "tf32", "rnn": "tf32"}
    tf_settings = runs["tf"]["frameworks"][0]["settings"]
    assert tf_settings["keras"].startswith("keras 3.") and tf_settings["keras_policy"] == "float32"
    assert tf_settings["keras_jit_compile"] is False
    assert runs["torch"]["missing"] == {"tf": "tensorflow is not installed"}

    # the side-by-side table `jlcompose bench torch tf --quick` prints, from these results
    header, table = report.side_by_side(report.columns([(w, r) for w, r in runs.items()]))
    assert header == ["test", "unit", "torch", "tf", "tf / torch"]
    cells = {row[0]: row for row in table}
    assert len(cells) == 13
    for name in MEASURED_ON_CPU:
        assert re.fullmatch(r"\d+(\.\d+)?x", cells[name][4]), cells[name]
    assert cells["matmul_tf32"][2:4] == ["skipped", "skipped"]
    (SAVED / "bench-quick.txt").write_text("\n".join(" | ".join(r) for r in [header, *table]) + "\n")


def test_kernels_get_the_start_up_defaults(labs: Path) -> None:
    assert in_kernel(labs, "torch", TORCH_KERNEL) == {
        "benchmark": True,
        "get_float32_matmul_precision": "high",  # every reader of PyTorch agrees, none raises
        "matmul.allow_tf32": True,
        "cudnn.allow_tf32": True,
        "fp32_precision": ["tf32", "tf32", "tf32"],
    }
    assert in_kernel(labs, "tf", TF_KERNEL) == {
        "imported_at_start": False,  # slow, and it takes GPU memory: only when asked
        "policy": "float32",
        "allow_growth": "true",
    }
    for service in ("torch", "tf"):  # the start-up file is silent when all goes well
        logs = subprocess.run(["docker", "logs", container_id(labs, service)], capture_output=True, text=True)
        assert "jlcompose:" not in logs.stdout + logs.stderr


def docker_exec(cid: str, *argv: str, env: dict[str, str] | None = None, **run: Any) -> Any:
    """`docker exec` with `-e` for each of env and `-i` (stdin) when run has input."""
    flags = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
    flags += ["-i"] if "input" in run else []
    return subprocess.run(["docker", "exec", *flags, cid, *argv], capture_output=True, text=True, **run)


def _notebook(root: Path, service: str) -> dict[str, Any]:
    cid = container_id(root, service)
    as_you = ["-u", f"{os.getuid()}:{os.getgid()}", "-w", "/workspace"]  # as the lab runs
    execute = ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600"]
    where = ["--output-dir", "/tmp/jlc-example", "--output", "executed"]
    done = subprocess.run(
        [
            "docker",
            "exec",
            "-e",
            "JLC_EXAMPLE_QUICK=1",
            *as_you,
            cid,
            *execute,
            "lstm_comparison.ipynb",
            *where,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = subprocess.run(
        ["docker", "exec", cid, "cat", "/tmp/jlc-example/executed.ipynb"], capture_output=True, text=True
    )
    nb: dict[str, Any] = json.loads(out.stdout)
    return nb


def _outputs(cell: dict[str, Any]) -> tuple[str, list[str]]:
    text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
    kinds = [kind for o in cell.get("outputs", []) for kind in o.get("data", {})]
    return text, kinds


def test_the_example_notebook_runs_in_both_labs(labs: Path) -> None:
    _notebook(labs, "torch")
    nb = _notebook(labs, "tf")  # the second lab sees the first one's results: one table
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    table, _ = _outputs(code[-2])
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["framework", "precision", "steps/s", "s/epoch"]
    for framework in ("torch", "tf"):
        fp32 = [line.split() for line in lines if line.split()[:2] == [framework, "fp32"]]
        assert len(fp32) == 1 and float(fp32[0][2]) > 0 and float(fp32[0][3]) > 0, table
        mixed = [line for line in lines[1:] if line.split()[0] == framework and "fp32" not in line]
        assert len(mixed) == 1, table  # measured, or "skipped: why" (a CPU without bf16 LSTMs)
    _, kinds = _outputs(code[-1])
    assert "image/png" in kinds  # the plot
    for framework in ("torch", "tf"):
        saved = json.loads((labs / "results" / f"lstm-{framework}.json").read_text())
        assert saved["framework"] == framework and saved["quick"] is True
    (SAVED / "example-table.txt").write_text(table)


def test_keras_2_and_3_in_the_tf_lab(labs: Path) -> None:
    """NGC TensorFlow 25.02 is TF 2.17; its tf.keras is Keras 3, or Keras 2 with
    TF_USE_LEGACY_KERAS=1 (tf_keras). Here: TF 2.21 with both."""
    cid = container_id(labs, "tf")
    script = (
        "import json, math, os, types\n"
        "ns = {'__name__': 'jlc_bench'}\n"
        f"exec(compile({benchrun.bench_source()!r}, 'bench', 'exec'), ns)\n"
        "b = types.SimpleNamespace(**ns)\n"
        "import tensorflow as tf\n"
        "resnet = b.keras_resnet50(tf.keras, 64, 224)\n"
        "trainable = sum(math.prod(int(d) for d in w.shape) for w in resnet.trainable_weights)\n"
        # the copy steps on real tensors: a new handle per call, the buffers take turns
        "with tf.device('/CPU:0'):\n"
        "    pool = [tf.fill([1024], 1.0), tf.fill([1024], 2.0)]\n"
        "h2d, d2h = b.tf_copy_steps(tf, '/CPU:0', pool, pool, lambda t: None)\n"
        "sent = [float(h2d().numpy()[0]) for _ in range(4)] + [float(d2h()[0]) for _ in range(2)]\n"
        # the whole benchmark under Keras 2 (Keras 3's ran through the CLI above)
        "legacy = os.environ['TF_USE_LEGACY_KERAS'] == '1'\n"
        f"result = b.run(['tf'], quick=True, startup={benchrun.LAB_STARTUP!r}) if legacy else None\n"
        "print(json.dumps({'trainable': trainable, 'sent': sent, 'result': result}))\n"
    )
    seen = {}
    for legacy in ("0", "1"):
        env = {"TF_USE_LEGACY_KERAS": legacy, "JLC_TF_MIXED_PRECISION": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        done = docker_exec(cid, "python3", "-", env=env, input=script, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        seen[legacy] = json.loads(done.stdout.strip().splitlines()[-1])
    for doc in seen.values():
        assert doc["trainable"] == 25_557_032  # ResNet-50, as torchvision's (and torch_resnet50)
        assert doc["sent"] == [2.0, 1.0, 2.0, 1.0, 2.0, 1.0]
    (fw,) = seen["1"]["result"]["frameworks"]
    assert fw["settings"]["keras_policy"] == "mixed_float16"  # the start-up file set it
    assert fw["settings"]["keras"].startswith("tf_keras 2."), fw["settings"]
    rows = {r["name"]: r for r in fw["rows"]}
    assert list(rows) == ROWS
    for name in MEASURED_ON_CPU:
        assert rows[name]["value"] > 0, rows[name]
    SAVED.mkdir(parents=True, exist_ok=True)
    (SAVED / "bench-quick-keras2.json").write_text(json.dumps(seen["1"]["result"], indent=1))

    # the start-up file in a real kernel of each flavour (`jupyter run` starts one)
    probe = (
        "import tensorflow as tf; print(tf.keras.__name__, tf.keras.mixed_precision.global_policy().name)\n"
    )
    for legacy, flavour in (("0", "keras"), ("1", "tf_keras")):
        env = {"TF_USE_LEGACY_KERAS": legacy, "JLC_TF_MIXED_PRECISION": "1"}
        run_it = "cat > /tmp/jlc-probe.py && jupyter run /tmp/jlc-probe.py"
        done = docker_exec(cid, "sh", "-c", run_it, env=env, input=probe, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        name, policy = done.stdout.strip().splitlines()[-1].split()
        assert name.split(".")[0] == flavour and policy == "mixed_float16", done.stdout


def test_a_changed_env_reaches_new_kernels(labs: Path) -> None:
    env = labs / ".env"
    env.write_text(env.read_text() + "JLC_TF32=0\nJLC_CUDNN_BENCHMARK=0\nJLC_TF_MIXED_PRECISION=1\n")
    up = run_cli("up", "torch", "tf", "--cpu", cwd=labs, timeout=600)
    assert up.returncode == 0, up.stderr
    assert in_kernel(labs, "torch", TORCH_KERNEL) == {
        "benchmark": False,
        "get_float32_matmul_precision": "highest",
        "matmul.allow_tf32": False,
        "cudnn.allow_tf32": False,  # full fp32 in cuDNN's convolutions too
        "fp32_precision": ["ieee", "ieee", "ieee"],
    }
    assert in_kernel(labs, "tf", TF_KERNEL) == {
        "imported_at_start": True,
        "policy": "mixed_float16",
        "allow_growth": "true",
    }
