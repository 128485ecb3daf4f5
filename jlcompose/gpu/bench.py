"""GPU benchmark: copies, matmul, LSTM and conv training steps in PyTorch and TensorFlow."""

# Self-contained on purpose: `jlcompose bench SERVICE` sends this file's source to
# `python3 -c` inside a lab, so it imports only the standard library and the frameworks.
# Run it anywhere as `python -m jlcompose.gpu.bench [--quick] [--json]`. Longer than our
# usual modules because it must stay one file.
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

SCHEMA = 1
Row = dict[str, Any]
Progress = Callable[[str], None]
# full: sizes of a plain PyTorch probe on an H200 (copies smaller); quick: CPU smoke test
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "copy_mib": 256,
        "matmul_n": 8192,
        "lstm": (2, 512, 1024, 256, 128),
        "conv": (128, 224, 64),
        "target_s": 1.0,
        "min_repeats": 5,
        "warmup": 3,
    },
    "quick": {
        "copy_mib": 8,
        "matmul_n": 128,
        "lstm": (1, 16, 32, 8, 16),
        "conv": (4, 32, 8),
        "target_s": 0.02,
        "min_repeats": 3,
        "warmup": 1,
    },
}
MAX_REPEATS = 2000
NO_GPU_PINNED = "pinned memory needs a CUDA device"
NO_GPU_TF32 = "TF32 is a tensor-core mode of NVIDIA GPUs"
NO_GPU_AUTOTUNE = "cuDNN autotuning needs a CUDA device"
NO_CUDNN = "CPU: no cuDNN"
HOST_MEMCPY = "host memcpy: no GPU"


def _quiet(_text: str) -> None:
    pass


def _import(name: str) -> Any:
    # Any: the frameworks are optional and their stubs must not shape this module's typing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. torch's "Failed to initialize NumPy": unused
        return importlib.import_module(name)


class UtilSampler:
    """Mean GPU utilization (% of time a kernel ran) while a workload runs, from NVML or
    nvidia-smi; `source` is None (and the mean None) when neither answers."""

    def __init__(self, index: int | None, uuid: str | None = None) -> None:
        self.source: str | None = None
        self._read: Callable[[], float] | None = None
        self._values: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if index is not None:
            self._open(index, uuid)

    def _open(self, index: int, uuid: str | None) -> None:
        try:
            pynvml = _import("pynvml")
            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            for i in range(pynvml.nvmlDeviceGetCount()) if uuid else ():
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                if str(uuid) in str(pynvml.nvmlDeviceGetUUID(h)):
                    handle = h  # CUDA and NVML may number GPUs differently
            self._read = lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            self.source = "nvml"
            return
        except Exception:
            pass
        smi = shutil.which("nvidia-smi")
        for ident in ([f"GPU-{uuid}"] if uuid else []) + [str(index)]:
            if smi is None:
                break
            query = "--query-gpu=utilization.gpu"
            argv = [smi, query, "--format=csv,noheader,nounits", "-i", ident]

            def read(argv: list[str] = argv) -> float:
                done = subprocess.run(  # noqa: S603  # nvidia-smi, fixed arguments
                    argv, capture_output=True, text=True, timeout=5, check=True
                )
                return float(done.stdout.strip().splitlines()[0])

            try:
                read()
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                continue
            self._read, self.source = read, "nvidia-smi"
            return

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self._values.append(self._read())  # type: ignore[misc]
            except Exception:
                return

    def __enter__(self) -> UtilSampler:
        self._values, self._stop = [], threading.Event()
        if self._read is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def mean(self) -> float | None:
        # the first reading covers the driver's previous period, before the workload
        values = self._values[1:] or self._values
        return statistics.fmean(values) if values else None


class Bench:
    """Times workloads (warm-up, then the median of repeats) and collects result rows."""

    def __init__(
        self,
        size: dict[str, Any],
        sync: Callable[[], None],
        progress: Progress,
        sampler: UtilSampler | None = None,
        events: Callable[[], Any] | None = None,
    ):
        self.size, self.sync, self.progress = size, sync, progress
        self.sampler = sampler or UtilSampler(None)
        self.events = events  # torch.cuda.Event factory: time on the GPU's own clock
        self.rows: list[Row] = []

    def _times(self, fn: Callable[[], object]) -> list[float]:
        for _ in range(self.size["warmup"]):
            fn()
        self.sync()
        start = time.perf_counter()
        fn()
        self.sync()
        once = max(time.perf_counter() - start, 1e-7)
        wanted = math.ceil(self.size["target_s"] / once)  # the timed region lasts ~target_s
        repeats = min(MAX_REPEATS, max(self.size["min_repeats"], wanted))
        if self.events is not None:
            marks = [(self.events(), self.events()) for _ in range(repeats)]
            for begin, end in marks:
                begin.record()
                fn()
                end.record()
            self.sync()
            return [begin.elapsed_time(end) / 1e3 for begin, end in marks]
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - start)
        return times

    def row(
        self, name: str, unit: str, work: float, fn: Callable[[], object], note: str | None = None
    ) -> None:
        """Measure fn; value = work / median seconds (bytes/1e9, FLOP/1e12, samples)."""
        self.progress(f"{name} ...")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with self.sampler:
                    times = self._times(fn)
        except Exception as exc:
            self.skip(name, unit, f"failed: {type(exc).__name__}: {exc}".splitlines()[0])
            return
        disabled = [str(w.message) for w in caught if "autocast" in str(w.message).lower()]
        if disabled:  # e.g. "In CPU autocast, but the target dtype is not supported"
            self.skip(name, unit, disabled[0].splitlines()[0])
            return
        median = statistics.median(times)
        self.rows.append(
            {
                "name": name,
                "unit": unit,
                "value": work / median,
                "median_s": median,
                "times_s": times,
                "sm_util": self.sampler.mean,
                "skipped": None,
                "note": note,
            }
        )

    def skip(self, name: str, unit: str, reason: str) -> None:
        self.rows.append(
            {
                "name": name,
                "unit": unit,
                "value": None,
                "median_s": None,
                "times_s": [],
                "sm_util": None,
                "skipped": reason,
                "note": None,
            }
        )


# -- PyTorch ----------------------------------------------------------------------------
def _torch_resnet(torch: Any, width: int) -> Any:
    nn = torch.nn
    module: Any = nn.Module

    class Block(module):  # type: ignore[misc]  # subclassing Any: torch is optional here
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout),
            )
            self.skip = (
                nn.Identity()
                if stride == 1 and cin == cout
                else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            )

        def forward(self, x: Any) -> Any:
            return torch.relu(self.body(x) + self.skip(x))

    # ResNet-18's layout, built from torch.nn alone (torchvision may be absent)
    layers = [
        nn.Conv2d(3, width, 7, 2, 3, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = width
    for i, cout in enumerate((width, width * 2, width * 4, width * 8)):
        layers += [Block(cin, cout, 1 if i == 0 else 2), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


def _torch_copies(b: Bench, torch: Any, dev: Any, cuda: bool) -> None:
    n = b.size["copy_mib"] * 2**20 // 4
    gb = n * 4 / 1e9
    host = torch.randn(n)
    if cuda:
        gpu = torch.empty(n, device=dev)
        pinned = host.pin_memory()
        b.row("h2d_pageable", "GB/s", gb, lambda: gpu.copy_(host))
        b.row("h2d_pinned", "GB/s", gb, lambda: gpu.copy_(pinned, non_blocking=True))
        b.row("d2h_pageable", "GB/s", gb, lambda: host.copy_(gpu))
        b.row("d2h_pinned", "GB/s", gb, lambda: pinned.copy_(gpu, non_blocking=True))
        return
    other = torch.empty_like(host)
    b.row("h2d_pageable", "GB/s", gb, lambda: other.copy_(host), note=HOST_MEMCPY)
    b.skip("h2d_pinned", "GB/s", NO_GPU_PINNED)
    b.row("d2h_pageable", "GB/s", gb, lambda: host.copy_(other), note=HOST_MEMCPY)
    b.skip("d2h_pinned", "GB/s", NO_GPU_PINNED)


def _torch_matmul(b: Bench, torch: Any, dev: Any, cuda: bool) -> None:
    m = b.size["matmul_n"]
    a, c = torch.randn(m, m, device=dev), torch.randn(m, m, device=dev)
    tflop = 2 * m**3 / 1e12
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        b.row("matmul_fp32", "TFLOP/s", tflop, lambda: a @ c)
        if cuda:
            torch.set_float32_matmul_precision("high")
            b.row("matmul_tf32", "TFLOP/s", tflop, lambda: a @ c)
        else:
            b.skip("matmul_tf32", "TFLOP/s", NO_GPU_TF32)
    finally:
        torch.set_float32_matmul_precision(before)
    for label, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        if cuda and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            b.skip("matmul_bf16_amp", "TFLOP/s", "this GPU has no bf16 support")
            continue

        def mm(dtype: Any = dtype) -> Any:
            with torch.autocast(dev.type, dtype=dtype):
                return a @ c

        b.row(f"matmul_{label}_amp", "TFLOP/s", tflop, mm, note="autocast from fp32 inputs")


def _torch_trainer(
    torch: Any,
    dev: Any,
    cuda: bool,
    *,
    model: Any,
    x: Any,
    loss_fn: Callable[[Any], Any],
    opt: Any,
    mixed: bool,
) -> Callable[[], None]:
    """One training step; mixed: autocast (fp16 + loss scaling on CUDA, bf16 on CPU)."""
    dtype = torch.float16 if cuda else torch.bfloat16
    scaler = None
    if mixed and cuda:
        amp_scaler = getattr(torch.amp, "GradScaler", None)  # torch >= 2.3; before: cuda.amp
        scaler = amp_scaler("cuda") if amp_scaler else torch.cuda.amp.GradScaler()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=dtype, enabled=mixed):
            loss = loss_fn(model(x))
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    return step


def _torch_lstm(b: Bench, torch: Any, dev: Any, cuda: bool) -> None:
    layers, inp, hid, batch, seq = b.size["lstm"]
    lstm = torch.nn.LSTM(inp, hid, num_layers=layers, batch_first=True).to(dev)
    x = torch.randn(batch, seq, inp, device=dev)
    opt = torch.optim.AdamW(lstm.parameters(), lr=1e-4)

    def loss(out: Any) -> Any:
        return out[0].float().square().mean()

    for name, mixed in (("lstm_fp32", False), ("lstm_amp", True)):
        step = _torch_trainer(torch, dev, cuda, model=lstm, x=x, loss_fn=loss, opt=opt, mixed=mixed)
        b.row(name, "seq/s", batch, step, note=_amp_note(cuda) if mixed else None)


def _amp_note(cuda: bool) -> str:
    return "autocast float16" if cuda else "autocast bfloat16"


def _torch_conv(b: Bench, torch: Any, dev: Any, cuda: bool) -> None:
    batch, res, width = b.size["conv"]
    net = _torch_resnet(torch, width).to(dev)
    images = torch.randn(batch, 3, res, res, device=dev)
    labels = torch.randint(0, 1000, (batch,), device=dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def loss(out: Any) -> Any:
        return torch.nn.functional.cross_entropy(out.float(), labels)

    autotune = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        step = _torch_trainer(torch, dev, cuda, model=net, x=images, loss_fn=loss, opt=opt, mixed=False)
        b.row("conv_autotune_off", "img/s", batch, step, note=None if cuda else NO_CUDNN)
        if cuda:
            torch.backends.cudnn.benchmark = True  # the search runs during the warm-up
            b.row("conv_autotune_on", "img/s", batch, step)
        else:
            b.skip("conv_autotune_on", "img/s", NO_GPU_AUTOTUNE)
        net = net.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
        step = _torch_trainer(torch, dev, cuda, model=net, x=images, loss_fn=loss, opt=opt, mixed=True)
        note = f"{_amp_note(cuda)}, channels-last" + (", autotune on" if cuda else "")
        b.row("conv_amp_channels_last", "img/s", batch, step, note=note)
    finally:
        torch.backends.cudnn.benchmark = autotune


def torch_bench(quick: bool, progress: Progress) -> dict[str, Any]:
    torch = _import("torch")
    out: dict[str, Any] = {"framework": "torch", "version": str(torch.__version__)}
    cuda = torch.cuda.is_available() and not quick
    if not cuda and not quick:
        out["skipped"] = "PyTorch sees no CUDA GPU (`--quick` runs a small CPU smoke test)"
        return out
    dev = torch.device("cuda" if cuda else "cpu")
    out["device"] = torch.cuda.get_device_name(dev) if cuda else "cpu"
    out["settings"] = {
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
    }
    sampler = None
    if cuda:
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        sampler = UtilSampler(index, str(uuid) if uuid is not None else None)
        out["util_source"] = sampler.source
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    events = (lambda: torch.cuda.Event(enable_timing=True)) if cuda else None
    b = Bench(SIZES["quick" if quick else "full"], sync, progress, sampler, events)
    for group in (_torch_copies, _torch_matmul, _torch_lstm, _torch_conv):
        group(b, torch, dev, cuda)
    out["rows"] = b.rows
    return out


# -- TensorFlow -------------------------------------------------------------------------
NO_TF_PINNED = "TensorFlow stages host copies itself (no pinned-memory API)"
NO_TF_AUTOTUNE_OFF = "TensorFlow reads TF_CUDNN_USE_AUTOTUNE once at start (default on)"


def _keras_resnet(keras: Any, width: int, res: int) -> Any:
    lay = keras.layers

    def block(x: Any, cout: int, stride: int) -> Any:
        y = lay.Conv2D(cout, 3, stride, padding="same", use_bias=False)(x)
        y = lay.ReLU()(lay.BatchNormalization()(y))
        y = lay.BatchNormalization()(lay.Conv2D(cout, 3, 1, padding="same", use_bias=False)(y))
        if stride != 1 or x.shape[-1] != cout:
            x = lay.BatchNormalization()(lay.Conv2D(cout, 1, stride, use_bias=False)(x))
        return lay.ReLU()(lay.Add()([x, y]))

    inputs = keras.Input(shape=(res, res, 3))
    x = lay.Conv2D(width, 7, 2, padding="same", use_bias=False)(inputs)
    x = lay.MaxPooling2D(3, 2, padding="same")(lay.ReLU()(lay.BatchNormalization()(x)))
    for i, cout in enumerate((width, width * 2, width * 4, width * 8)):
        x = block(block(x, cout, 1 if i == 0 else 2), cout, 1)
    x = lay.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, lay.Dense(1000, dtype="float32")(x))  # fp32 logits under AMP


class _TF:
    """What every TensorFlow group needs: the module, the device, and how to wait for it."""

    def __init__(self, tf: Any, dev: str, cuda: bool, fetch: bool) -> None:
        self.tf, self.keras, self.dev, self.cuda, self.fetch = tf, tf.keras, dev, cuda, fetch
        self.mixed = "mixed_float16" if cuda else "mixed_bfloat16"

    def done(self, t: Any) -> None:
        if self.fetch:  # no sync_devices in this TensorFlow: one element waits for the op
            self.tf.reshape(t, [-1])[0].numpy()

    def compiled(self, build: Callable[[], Any], policy: str, opt: Callable[[], Any], loss: Any) -> Any:
        mp = self.keras.mixed_precision
        before = mp.global_policy()
        mp.set_global_policy(policy)
        try:  # compile() wraps the optimizer for loss scaling under mixed_float16
            with self.tf.device(self.dev):
                model = build()
                model.compile(optimizer=opt(), loss=loss)
        finally:
            mp.set_global_policy(before)
        return model

    def trainer(self, model: Any, x: Any, y: Any) -> Callable[[], None]:
        def step() -> None:
            with self.tf.device(self.dev):
                model.train_on_batch(x, y)  # returns the loss as a number: a sync point

        return step


def _tf_copies(b: Bench, t: _TF) -> None:
    np, tf = _import("numpy"), t.tf  # TensorFlow depends on NumPy
    n = b.size["copy_mib"] * 2**20 // 4
    gb = n * 4 / 1e9
    host = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    if not t.cuda:
        other = np.empty_like(host)
        b.row("h2d_pageable", "GB/s", gb, lambda: np.copyto(other, host), note=HOST_MEMCPY)
        b.skip("h2d_pinned", "GB/s", NO_GPU_PINNED)
        b.row("d2h_pageable", "GB/s", gb, lambda: np.copyto(host, other), note=HOST_MEMCPY)
        b.skip("d2h_pinned", "GB/s", NO_GPU_PINNED)
        return
    with tf.device("/CPU:0"):
        host_t = tf.constant(host)
    with tf.device(t.dev):
        gpu_t = tf.random.normal([n])

    def h2d() -> None:
        with tf.device(t.dev):
            t.done(tf.identity(host_t))

    b.row("h2d_pageable", "GB/s", gb, h2d, note=NO_TF_PINNED)
    b.skip("h2d_pinned", "GB/s", NO_TF_PINNED)
    b.row("d2h_pageable", "GB/s", gb, gpu_t.numpy)
    b.skip("d2h_pinned", "GB/s", NO_TF_PINNED)


def _tf_matmul(b: Bench, t: _TF) -> None:
    tf, m = t.tf, b.size["matmul_n"]
    with tf.device(t.dev):
        a, c = tf.random.normal([m, m]), tf.random.normal([m, m])
    tflop = 2 * m**3 / 1e12

    def mm(dtype: Any = None) -> Callable[[], None]:
        def run() -> None:
            with tf.device(t.dev):
                x, y = (a, c) if dtype is None else (tf.cast(a, dtype), tf.cast(c, dtype))
                t.done(tf.matmul(x, y))

        return run

    before = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        tf.config.experimental.enable_tensor_float_32_execution(False)
        b.row("matmul_fp32", "TFLOP/s", tflop, mm())
        if t.cuda:
            tf.config.experimental.enable_tensor_float_32_execution(True)
            b.row("matmul_tf32", "TFLOP/s", tflop, mm())
        else:
            b.skip("matmul_tf32", "TFLOP/s", NO_GPU_TF32)
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)
    b.row("matmul_fp16_amp", "TFLOP/s", tflop, mm(tf.float16), note="fp16 casts included")
    b.row("matmul_bf16_amp", "TFLOP/s", tflop, mm(tf.bfloat16), note="bf16 casts included")


def _tf_lstm(b: Bench, t: _TF) -> None:
    tf, keras = t.tf, t.keras
    layers, inp, hid, batch, seq = b.size["lstm"]

    def build() -> Any:
        h = inputs = keras.Input(shape=(seq, inp))
        for _ in range(layers):
            h = keras.layers.LSTM(hid, return_sequences=True)(h)
        return keras.Model(inputs, keras.layers.Activation("linear", dtype="float32")(h))

    def adamw() -> Any:
        cls = getattr(keras.optimizers, "AdamW", None) or keras.optimizers.Adam
        return cls(learning_rate=1e-4)

    with tf.device(t.dev):
        x, y = tf.random.normal([batch, seq, inp]), tf.random.normal([batch, seq, hid])
    for name, policy in (("lstm_fp32", "float32"), ("lstm_amp", t.mixed)):
        model = t.compiled(build, policy, adamw, "mse")
        note = None if policy == "float32" else f"keras {policy}"
        b.row(name, "seq/s", batch, t.trainer(model, x, y), note=note)


def _tf_conv(b: Bench, t: _TF) -> None:
    tf, keras = t.tf, t.keras
    batch, res, width = b.size["conv"]
    with tf.device(t.dev):
        images = tf.random.normal([batch, res, res, 3])
        labels = tf.random.uniform([batch], 0, 1000, dtype=tf.int32)
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def sgd() -> Any:
        return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)

    def resnet() -> Any:
        return _keras_resnet(keras, width, res)

    step = t.trainer(t.compiled(resnet, "float32", sgd, xent), images, labels)
    if t.cuda:
        b.skip("conv_autotune_off", "img/s", NO_TF_AUTOTUNE_OFF)
        b.row("conv_autotune_on", "img/s", batch, step)
    else:
        b.row("conv_autotune_off", "img/s", batch, step, note=NO_CUDNN)
        b.skip("conv_autotune_on", "img/s", NO_GPU_AUTOTUNE)
    step = t.trainer(t.compiled(resnet, t.mixed, sgd, xent), images, labels)
    note = f"keras {t.mixed}; TensorFlow convolutions are channels-last (NHWC) already"
    b.row("conv_amp_channels_last", "img/s", batch, step, note=note)


def tf_bench(quick: bool, progress: Progress) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up log short
    tf = _import("tensorflow")
    out: dict[str, Any] = {"framework": "tf", "version": str(tf.__version__)}
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:  # take GPU memory as needed, like the labs (TF_FORCE_GPU_ALLOW_GROWTH)
            tf.config.experimental.set_memory_growth(gpu, True)
        except (ValueError, RuntimeError):
            pass
    cuda = bool(gpus) and not quick
    if not cuda and not quick:
        out["skipped"] = "TensorFlow sees no GPU (`--quick` runs a small CPU smoke test)"
        return out
    details = tf.config.experimental.get_device_details(gpus[0]) if cuda else {}
    out["device"] = str(details.get("device_name", "GPU 0")) if cuda else "cpu"
    out["settings"] = {
        "tf32": bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        "keras_policy": str(tf.keras.mixed_precision.global_policy().name),
        "cudnn_autotune": os.environ.get("TF_CUDNN_USE_AUTOTUNE", "1"),
    }
    sampler = None
    if cuda:  # NVML index 0 is TensorFlow's GPU:0 unless CUDA_VISIBLE_DEVICES reorders them
        sampler = UtilSampler(0)
        out["util_source"] = sampler.source
    sync_devices = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    sync = sync_devices if (cuda and sync_devices is not None) else (lambda: None)
    b = Bench(SIZES["quick" if quick else "full"], sync, progress, sampler)
    t = _TF(tf, "/GPU:0" if cuda else "/CPU:0", cuda, fetch=cuda and sync_devices is None)
    for group in (_tf_copies, _tf_matmul, _tf_lstm, _tf_conv):
        group(b, t)
    out["rows"] = b.rows
    return out


# -- entry point ------------------------------------------------------------------------
BENCHES: dict[str, tuple[str, Callable[[bool, Progress], dict[str, Any]]]] = {
    "torch": ("torch", torch_bench),
    "tf": ("tensorflow", tf_bench),
}


def run(
    frameworks: list[str] | None = None, quick: bool = False, progress: Progress = _quiet
) -> dict[str, Any]:
    """Benchmark each installed framework; the result is JSON-ready."""
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "quick": quick,
        "python": platform.python_version(),
        "frameworks": [],
        "missing": {},
    }
    for key in frameworks or list(BENCHES):
        module, bench = BENCHES[key]
        if importlib.util.find_spec(module) is None:
            result["missing"][key] = f"{module} is not installed"
            continue
        progress(f"{key}: starting")
        start = time.perf_counter()

        def tell(text: str, key: str = key) -> None:
            progress(f"{key}: {text}")

        try:
            entry = bench(quick, tell)
        except Exception as exc:  # one framework's failure must not hide the other's rows
            entry = {"framework": key, "skipped": f"failed: {type(exc).__name__}: {exc}"}
        entry["elapsed_s"] = time.perf_counter() - start
        result["frameworks"].append(entry)
    return result


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def format_text(result: dict[str, Any]) -> str:
    lines = []
    for fw in result["frameworks"]:
        head = f"{fw['framework']} {fw.get('version', '')} on {fw.get('device', '?')}"
        lines.append(head + (" (CPU smoke numbers, --quick)" if result.get("quick") else ""))
        if fw.get("skipped"):
            lines.append(f"  skipped: {fw['skipped']}")
        for row in fw.get("rows", []):
            if row["skipped"]:
                lines.append(f"  {row['name']:<24} skipped: {row['skipped']}")
                continue
            sm = "" if row["sm_util"] is None else f"  SM {row['sm_util']:.0f} %"
            lines.append(
                f"  {row['name']:<24} {_fmt(row['value']):>8} {row['unit']:<8}"
                f" median {row['median_s'] * 1e3:.3g} ms{sm}"
            )
    for key, why in result["missing"].items():
        lines.append(f"{key}: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jlcompose.gpu.bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes on the CPU (a smoke test)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.add_argument("--only", action="append", choices=sorted(BENCHES), help="one framework")
    args = p.parse_args(argv)

    def progress(text: str) -> None:
        sys.stderr.write(f"bench: {text}\n")
        sys.stderr.flush()

    result = run(args.only, args.quick, progress)
    sys.stdout.write((json.dumps(result) if args.json else format_text(result)) + "\n")
    sys.stdout.flush()
    return 0 if any(fw.get("rows") for fw in result["frameworks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
