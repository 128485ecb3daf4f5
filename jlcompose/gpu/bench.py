"""GPU benchmark: copies, matmul, LSTM and conv training steps in PyTorch and TensorFlow."""

# Self-contained on purpose: `jlcompose bench SERVICE` sends this file's source to
# `python3 -c` inside a lab, so it imports only the standard library and the frameworks.
# Run it anywhere as `python -m jlcompose.gpu.bench [--quick] [--json]`. Longer than our
# usual modules because it must stay one file.
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

SCHEMA = 2  # 2: rows carry sm_samples; settings name the fp32 precision per operation
Row = dict[str, Any]
Progress = Callable[[str], None]
# full: the sizes of the plain PyTorch probe on an H200 (docs/tuning.md): copies of 1 GiB, an
# 8192^3 matmul, a 2-layer LSTM with a 10-class head on its last step, ResNet-50 at batch 128,
# 224x224; quick: the same shapes, tiny, as a CPU smoke test.
# lstm: (layers, input, hidden, batch, sequence); conv: (batch, resolution, base width,
# bottlenecks per stage: 3-4-6-3 is ResNet-50, quick keeps one per stage so that tracing the
# Keras model stays short on a CPU)
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "copy_mib": 1024,
        "matmul_n": 8192,
        "lstm": (2, 512, 1024, 256, 128),
        "conv": (128, 224, 64, (3, 4, 6, 3)),
        "target_s": 1.0,
        "min_repeats": 5,
        "warmup": 3,
    },
    "quick": {
        "copy_mib": 8,
        "matmul_n": 128,
        "lstm": (2, 16, 32, 8, 16),
        "conv": (4, 32, 8, (1, 1, 1, 1)),
        "target_s": 0.02,
        "min_repeats": 3,
        "warmup": 1,
    },
}
# every framework reports these rows, in this order: measured, or skipped with a reason
ROWS = (
    "h2d_pageable",
    "h2d_pinned",
    "d2h_pageable",
    "d2h_pinned",
    "matmul_fp32",
    "matmul_tf32",
    "matmul_fp16_amp",
    "matmul_bf16_amp",
    "lstm_fp32",
    "lstm_amp",
    "conv_autotune_off",
    "conv_autotune_on",
    "conv_amp_channels_last",
)
LSTM_CLASSES = 10
MAX_REPEATS = 2000
# NVML averages utilization over a sample period of 1/6 s to 1 s, by product: a reading taken
# sooner than that after a workload starts still covers time before it
SETTLE_S = 1.0
JIT_COMPILE = False  # Keras models run TensorFlow's own kernels, as eager PyTorch does (no XLA)
NO_GPU_PINNED = "pinned memory needs a CUDA device"
NO_GPU_TF32 = "TF32 is a tensor-core mode of NVIDIA GPUs"
NO_GPU_AUTOTUNE = "cuDNN autotuning needs a CUDA device"
NO_CUDNN = "CPU: no cuDNN"
HOST_MEMCPY = "host memcpy: no GPU"
FP32_CONV = "fp32 with TF32 off (as the probe)"


def _quiet(_text: str) -> None:
    pass


def _import(name: str) -> Any:
    # Any: the frameworks are optional and their stubs must not shape this module's typing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. torch's "Failed to initialize NumPy": unused
        return importlib.import_module(name)


class UtilSampler:
    """Mean GPU utilization (% of time a kernel ran) while a workload runs, from NVML or
    nvidia-smi; `source` is None (and the mean None) when neither answers.

    Readings come every `interval_s`; only those taken `settle_s` or more after the start of
    the window count, because each one reports the driver's last sample period."""

    def __init__(
        self,
        index: int | None,
        uuid: str | None = None,
        *,
        settle_s: float = SETTLE_S,
        interval_s: float = 0.1,
    ) -> None:
        self.source: str | None = None
        self.settle_s, self.interval_s = settle_s, interval_s
        self._read: Callable[[], float] | None = None
        self._values: list[tuple[float, float]] = []  # (seconds since the window opened, %)
        self._start = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if index is not None:
            self._open(index, uuid)

    @classmethod
    def from_reader(
        cls, read: Callable[[], float], source: str, *, settle_s: float = SETTLE_S, interval_s: float = 0.1
    ) -> UtilSampler:
        """A sampler around any reading function (a test's, or another driver query)."""
        sampler = cls(None, settle_s=settle_s, interval_s=interval_s)
        sampler._read, sampler.source = read, source
        return sampler

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
        while not self._stop.wait(self.interval_s):
            try:
                value = self._read()  # type: ignore[misc]
            except Exception:
                return
            self._values.append((time.perf_counter() - self._start, value))

    def __enter__(self) -> UtilSampler:
        self._values, self._stop = [], threading.Event()
        self._start = time.perf_counter()
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
    def readings(self) -> list[float]:
        """The readings that cover the window only (none from before it settled)."""
        return [value for at, value in self._values if at >= self.settle_s]

    @property
    def mean(self) -> float | None:
        values = self.readings
        return statistics.fmean(values) if values else None


class Bench:
    """Times workloads (warm-up, then the median of repeats) and collects result rows.

    The utilization sampler runs during the timed repeats only: warm-up, cuDNN's algorithm
    search, graph tracing and the one calibration run stay outside it."""

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
        window = self.size["target_s"]
        if self.sampler.source is not None:  # long enough for readings after it settled
            window += self.sampler.settle_s
        wanted = math.ceil(window / once)  # the timed region lasts ~window seconds
        repeats = min(MAX_REPEATS, max(self.size["min_repeats"], wanted))
        with self.sampler:
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
                times = self._times(fn)
        except Exception as exc:
            self.skip(name, unit, f"failed: {type(exc).__name__}: {exc}".splitlines()[0])
            return
        disabled = [str(w.message) for w in caught if "autocast" in str(w.message).lower()]
        if disabled:  # e.g. "In CPU autocast, but the target dtype is not supported"
            self.skip(name, unit, disabled[0].splitlines()[0])
            return
        median = statistics.median(times)
        sampled = self.sampler.source is not None
        self.rows.append(
            {
                "name": name,
                "unit": unit,
                "value": work / median,
                "median_s": median,
                "times_s": times,
                "sm_util": self.sampler.mean,
                "sm_samples": len(self.sampler.readings) if sampled else None,
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
                "sm_samples": None,
                "skipped": reason,
                "note": None,
            }
        )


# -- PyTorch ----------------------------------------------------------------------------
def torch_new_precision_api(torch: Any) -> bool:
    """PyTorch >= 2.9: per-backend `fp32_precision` settings (the older `allow_tf32` flags
    and get_float32_matmul_precision() raise there once the two disagree)."""
    return getattr(torch.backends.cuda.matmul, "fp32_precision", None) is not None


def torch_precision(torch: Any) -> dict[str, str]:
    """fp32 precision of matmuls, cuDNN convolutions and cuDNN RNNs ("ieee", "tf32"; "none"
    is PyTorch's unset default, full fp32 for matmuls), read with the installed PyTorch's
    own API, so that it never raises whatever a user set before."""
    b = torch.backends
    if torch_new_precision_api(torch):
        return {
            "matmul": str(b.cuda.matmul.fp32_precision),
            "conv": str(b.cudnn.conv.fp32_precision),
            "rnn": str(b.cudnn.rnn.fp32_precision),
        }
    cudnn = "tf32" if b.cudnn.allow_tf32 else "ieee"
    return {"matmul": "tf32" if b.cuda.matmul.allow_tf32 else "ieee", "conv": cudnn, "rnn": cudnn}


@contextlib.contextmanager
def torch_fp32(torch: Any, *, matmul: str | None = None, conv: str | None = None) -> Iterator[None]:
    """Matmul and/or cuDNN convolution precision ("ieee" or "tf32") for one measurement, set
    with the installed PyTorch's API; what was there before comes back exactly."""
    b = torch.backends
    if torch_new_precision_api(torch):
        saved = (b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision)
        try:
            if matmul:
                b.cuda.matmul.fp32_precision = matmul
            if conv:
                b.cudnn.conv.fp32_precision = conv
            yield
        finally:
            b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision = saved
        return
    before = (torch.get_float32_matmul_precision(), b.cudnn.allow_tf32)
    try:
        if matmul:
            torch.set_float32_matmul_precision("high" if matmul == "tf32" else "highest")
        if conv:
            b.cudnn.allow_tf32 = conv == "tf32"
        yield
    finally:
        torch.set_float32_matmul_precision(before[0])
        b.cudnn.allow_tf32 = before[1]


def torch_resnet50(torch: Any, width: int = 64, blocks: Sequence[int] = (3, 4, 6, 3)) -> Any:
    """ResNet-50 (torchvision's layout: bottlenecks 3-4-6-3, stride on the 3x3 conv) from
    torch.nn alone, since torchvision may be absent; the defaults are the real model."""
    nn = torch.nn
    module: Any = nn.Module

    class Bottleneck(module):  # type: ignore[misc]  # subclassing Any: torch is optional here
        def __init__(self, cin: int, mid: int, stride: int) -> None:
            super().__init__()
            cout = mid * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False),
                nn.BatchNorm2d(mid),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, mid, 3, stride, 1, bias=False),
                nn.BatchNorm2d(mid),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )
            self.skip = (
                nn.Identity()
                if stride == 1 and cin == cout
                else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            )

        def forward(self, x: Any) -> Any:
            return torch.relu(self.body(x) + self.skip(x))

    layers = [
        nn.Conv2d(3, width, 7, 2, 3, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = width
    for stage, count in enumerate(blocks):
        mid = width * 2**stage
        for i in range(count):
            layers.append(Bottleneck(cin, mid, 2 if i == 0 and stage > 0 else 1))
            cin = mid * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


def torch_lstm(torch: Any, layers: int, inp: int, hid: int) -> Any:
    """The probe's LSTM: stacked layers, a 10-class linear head on the last time step."""
    nn = torch.nn
    module: Any = nn.Module

    class Classifier(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(inp, hid, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hid, LSTM_CLASSES)

        def forward(self, x: Any) -> Any:
            out, _state = self.lstm(x)
            return self.head(out[:, -1])

    return Classifier()


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
    with torch_fp32(torch, matmul="ieee"):
        b.row("matmul_fp32", "TFLOP/s", tflop, lambda: a @ c)
    if cuda:
        with torch_fp32(torch, matmul="tf32"):
            b.row("matmul_tf32", "TFLOP/s", tflop, lambda: a @ c)
    else:
        b.skip("matmul_tf32", "TFLOP/s", NO_GPU_TF32)
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
    mixed: bool,
    opt: Callable[[Any], Any],
) -> Callable[[], None]:
    """One training step of a model of its own (and its own optimizer); mixed: autocast
    (fp16 + loss scaling on CUDA, bf16 on CPU)."""
    dtype = torch.float16 if cuda else torch.bfloat16
    optimizer = opt(model.parameters())
    scaler = None
    if mixed and cuda:
        amp_scaler = getattr(torch.amp, "GradScaler", None)  # torch >= 2.3; before: cuda.amp
        scaler = amp_scaler("cuda") if amp_scaler else torch.cuda.amp.GradScaler()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=dtype, enabled=mixed):
            loss = loss_fn(model(x))
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    return step


def _amp_note(cuda: bool) -> str:
    return "autocast float16" if cuda else "autocast bfloat16"


def _torch_lstm(b: Bench, torch: Any, dev: Any, cuda: bool) -> None:
    layers, inp, hid, batch, seq = b.size["lstm"]
    x = torch.randn(batch, seq, inp, device=dev)
    labels = torch.randint(0, LSTM_CLASSES, (batch,), device=dev)

    def loss(logits: Any) -> Any:
        return torch.nn.functional.cross_entropy(logits.float(), labels)

    def adamw(params: Any) -> Any:
        return torch.optim.AdamW(params, lr=1e-3)

    rnn = torch_precision(torch)["rnn"]
    for name, mixed in (("lstm_fp32", False), ("lstm_amp", True)):
        torch.manual_seed(0)  # a fresh model and optimizer per row, as the probe
        model = torch_lstm(torch, layers, inp, hid).to(dev)
        step = _torch_trainer(torch, dev, cuda, model=model, x=x, loss_fn=loss, mixed=mixed, opt=adamw)
        note = f"fp32; cuDNN RNN precision {rnn}" if cuda else None
        b.row(name, "seq/s", batch, step, note=_amp_note(cuda) if mixed else note)


def _torch_conv(b: Bench, torch: Any, dev: Any, cuda: bool) -> None:
    batch, res, width, blocks = b.size["conv"]
    images = torch.randn(batch, 3, res, res, device=dev)
    labels = torch.randint(0, 1000, (batch,), device=dev)
    channels_last = torch.channels_last

    def loss(out: Any) -> Any:
        return torch.nn.functional.cross_entropy(out.float(), labels)

    def sgd(params: Any) -> Any:
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)

    def trainer(mixed: bool) -> Callable[[], None]:
        torch.manual_seed(0)  # a fresh model and optimizer per row, as the probe
        net, x = torch_resnet50(torch, width, blocks).to(dev), images
        if mixed:
            net = net.to(memory_format=channels_last)
            x = images.contiguous(memory_format=channels_last)
        return _torch_trainer(torch, dev, cuda, model=net, x=x, loss_fn=loss, mixed=mixed, opt=sgd)

    autotune = torch.backends.cudnn.benchmark
    try:
        with torch_fp32(torch, conv="ieee"):  # fp32 means fp32: TF32 is cuDNN's default
            torch.backends.cudnn.benchmark = False
            note = FP32_CONV if cuda else NO_CUDNN
            b.row("conv_autotune_off", "img/s", batch, trainer(False), note=note)
            if cuda:
                torch.backends.cudnn.benchmark = True  # the search runs during the warm-up
                b.row("conv_autotune_on", "img/s", batch, trainer(False), note=FP32_CONV)
            else:
                b.skip("conv_autotune_on", "img/s", NO_GPU_AUTOTUNE)
            note = f"{_amp_note(cuda)}, channels-last" + (", autotune on" if cuda else "")
            b.row("conv_amp_channels_last", "img/s", batch, trainer(True), note=note)
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
    # what the rows not about precision or autotuning run with: this process's settings
    out["settings"] = {
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "precision_api": "fp32_precision" if torch_new_precision_api(torch) else "allow_tf32",
        "fp32_precision": torch_precision(torch),
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
TF_NO_XLA = "jit_compile=False: TensorFlow's own kernels, no XLA"


def keras_flavour(tf: Any) -> str:
    """What `tf.keras` is here: Keras 3, or Keras 2 from tf_keras (TF_USE_LEGACY_KERAS=1)."""
    keras = tf.keras
    legacy = str(getattr(keras, "__name__", "")).startswith("tf_keras")
    version = getattr(keras, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version("tf-keras" if legacy else "keras")
        except importlib.metadata.PackageNotFoundError:
            version = "?"
    return f"tf_keras {version} (Keras 2)" if legacy else f"keras {version}"


def keras_resnet50(keras: Any, width: int, res: int, blocks: Sequence[int] = (3, 4, 6, 3)) -> Any:
    """The same ResNet-50 as torch_resnet50, in Keras (NHWC, as TensorFlow convolves)."""
    lay = keras.layers

    def conv(x: Any, cout: int, size: int, stride: int = 1) -> Any:
        return lay.Conv2D(cout, size, stride, padding="same", use_bias=False)(x)

    def bottleneck(x: Any, mid: int, stride: int) -> Any:
        y = lay.ReLU()(lay.BatchNormalization()(conv(x, mid, 1)))
        y = lay.ReLU()(lay.BatchNormalization()(conv(y, mid, 3, stride)))
        y = lay.BatchNormalization()(conv(y, mid * 4, 1))
        if stride != 1 or x.shape[-1] != mid * 4:
            x = lay.BatchNormalization()(conv(x, mid * 4, 1, stride))
        return lay.ReLU()(lay.Add()([x, y]))

    inputs = keras.Input(shape=(res, res, 3))
    x = lay.ReLU()(lay.BatchNormalization()(conv(inputs, width, 7, 2)))
    x = lay.MaxPooling2D(3, 2, padding="same")(x)
    for stage, count in enumerate(blocks):
        for i in range(count):
            x = bottleneck(x, width * 2**stage, 2 if i == 0 and stage > 0 else 1)
    x = lay.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, lay.Dense(1000, dtype="float32")(x))  # fp32 logits under AMP


def keras_lstm(keras: Any, layers: int, inp: int, hid: int, seq: int) -> Any:
    """The same LSTM classifier as torch_lstm, in Keras."""
    h = inputs = keras.Input(shape=(seq, inp))
    for i in range(layers):
        h = keras.layers.LSTM(hid, return_sequences=i < layers - 1)(h)
    return keras.Model(inputs, keras.layers.Dense(LSTM_CLASSES, dtype="float32")(h))


def tf_copy_steps(
    tf: Any, dev: str, host: list[Any], device: list[Any], done: Callable[[Any], None]
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Host-to-device and device-to-host steps that move the bytes on every call.

    TensorFlow keeps the copy a tensor got on another device (and the host copy `.numpy()`
    made) with that tensor, so sending one tensor again moves nothing. Each call therefore
    sends a new handle (`tf.identity` on the tensor's own device shares its bytes, it does
    not copy them), taking turns between buffers of different content: what arrives shows
    which call sent it."""
    turns = {"h2d": 0, "d2h": 0}

    def pick(pool: list[Any], key: str) -> Any:
        turns[key] += 1
        return pool[turns[key] % len(pool)]

    def h2d() -> Any:
        with tf.device("/CPU:0"):
            fresh = tf.identity(pick(host, "h2d"))
        with tf.device(dev):
            out = tf.identity(fresh)
        done(out)
        return out

    def d2h() -> Any:
        with tf.device(dev):
            fresh = tf.identity(pick(device, "d2h"))
        return fresh.numpy()

    return h2d, d2h


class _TF:
    """What every TensorFlow group needs: the module, the device, and how to wait for it."""

    def __init__(self, tf: Any, dev: str, cuda: bool, fetch: bool) -> None:
        self.tf, self.keras, self.dev, self.cuda, self.fetch = tf, tf.keras, dev, cuda, fetch
        self.mixed = "mixed_float16" if cuda else "mixed_bfloat16"

    def done(self, t: Any) -> None:
        if self.fetch:  # no sync_devices in this TensorFlow: one element waits for the op
            self.tf.reshape(t, [-1])[0].numpy()

    def compiled(self, build: Callable[[], Any], policy: str, opt: Callable[[], Any], loss: Any) -> Any:
        """A fresh model under `policy`, compiled without XLA (the choice is explicit: Keras 3's
        default `jit_compile="auto"` picks XLA on a GPU, Keras 2's does not)."""
        mp = self.keras.mixed_precision
        before = mp.global_policy()
        mp.set_global_policy(policy)
        try:  # compile() wraps the optimizer for loss scaling under mixed_float16
            self.keras.utils.set_random_seed(0)
            with self.tf.device(self.dev):
                model = build()
                model.compile(optimizer=opt(), loss=loss, jit_compile=JIT_COMPILE)
        finally:
            mp.set_global_policy(before)
        return model

    def trainer(self, model: Any, x: Any, y: Any) -> Callable[[], None]:
        def step() -> None:
            with self.tf.device(self.dev):
                model.train_on_batch(x, y)  # returns the loss as a number: a sync point

        return step


@contextlib.contextmanager
def _tf32(tf: Any, enabled: bool) -> Iterator[None]:
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        tf.config.experimental.enable_tensor_float_32_execution(enabled)
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)


def _tf_copies(b: Bench, t: _TF) -> None:
    tf = t.tf
    n = b.size["copy_mib"] * 2**20 // 4
    gb = n * 4 / 1e9
    if not t.cuda:
        np = _import("numpy")  # TensorFlow depends on NumPy
        host = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
        other = np.empty_like(host)
        b.row("h2d_pageable", "GB/s", gb, lambda: np.copyto(other, host), note=HOST_MEMCPY)
        b.skip("h2d_pinned", "GB/s", NO_GPU_PINNED)
        b.row("d2h_pageable", "GB/s", gb, lambda: np.copyto(host, other), note=HOST_MEMCPY)
        b.skip("d2h_pinned", "GB/s", NO_GPU_PINNED)
        return
    with tf.device("/CPU:0"):
        hosts = [tf.random.normal([n]), tf.random.normal([n])]
    with tf.device(t.dev):
        gpus = [tf.random.normal([n]), tf.random.normal([n])]
    h2d, d2h = tf_copy_steps(tf, t.dev, hosts, gpus, t.done)
    note = "a new tensor each time; " + NO_TF_PINNED
    b.row("h2d_pageable", "GB/s", gb, h2d, note=note)
    b.skip("h2d_pinned", "GB/s", NO_TF_PINNED)
    b.row("d2h_pageable", "GB/s", gb, d2h, note=note)
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

    with _tf32(tf, False):
        b.row("matmul_fp32", "TFLOP/s", tflop, mm())
    if t.cuda:
        with _tf32(tf, True):
            b.row("matmul_tf32", "TFLOP/s", tflop, mm())
    else:
        b.skip("matmul_tf32", "TFLOP/s", NO_GPU_TF32)
    b.row("matmul_fp16_amp", "TFLOP/s", tflop, mm(tf.float16), note="fp16 casts included")
    b.row("matmul_bf16_amp", "TFLOP/s", tflop, mm(tf.bfloat16), note="bf16 casts included")


def _tf_lstm(b: Bench, t: _TF) -> None:
    tf, keras = t.tf, t.keras
    layers, inp, hid, batch, seq = b.size["lstm"]

    def build() -> Any:
        return keras_lstm(keras, layers, inp, hid, seq)

    def adamw() -> Any:
        cls = getattr(keras.optimizers, "AdamW", None) or keras.optimizers.Adam
        return cls(learning_rate=1e-3)

    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.device(t.dev):
        x = tf.random.normal([batch, seq, inp])
        y = tf.random.uniform([batch], 0, LSTM_CLASSES, dtype=tf.int32)
    tf32 = "on" if tf.config.experimental.tensor_float_32_execution_enabled() else "off"
    for name, policy in (("lstm_fp32", "float32"), ("lstm_amp", t.mixed)):
        model = t.compiled(build, policy, adamw, xent)
        note = f"fp32; TF32 {tf32}" if policy == "float32" else f"keras {policy}"
        b.row(name, "seq/s", batch, t.trainer(model, x, y), note=f"{note}; {TF_NO_XLA}")


def _tf_conv(b: Bench, t: _TF) -> None:
    tf, keras = t.tf, t.keras
    batch, res, width, blocks = b.size["conv"]
    with tf.device(t.dev):
        images = tf.random.normal([batch, res, res, 3])
        labels = tf.random.uniform([batch], 0, 1000, dtype=tf.int32)
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def sgd() -> Any:
        return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)

    def resnet() -> Any:
        return keras_resnet50(keras, width, res, blocks)

    with _tf32(tf, False):  # fp32 means fp32, as in the PyTorch rows
        step = t.trainer(t.compiled(resnet, "float32", sgd, xent), images, labels)
        if t.cuda:
            b.skip("conv_autotune_off", "img/s", NO_TF_AUTOTUNE_OFF)
            b.row("conv_autotune_on", "img/s", batch, step, note=f"{FP32_CONV}; {TF_NO_XLA}")
        else:
            b.row("conv_autotune_off", "img/s", batch, step, note=f"{NO_CUDNN}; {TF_NO_XLA}")
            b.skip("conv_autotune_on", "img/s", NO_GPU_AUTOTUNE)
    step = t.trainer(t.compiled(resnet, t.mixed, sgd, xent), images, labels)
    note = f"keras {t.mixed}; TensorFlow convolutions are channels-last (NHWC) already; {TF_NO_XLA}"
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
        "keras": keras_flavour(tf),
        "keras_policy": str(tf.keras.mixed_precision.global_policy().name),
        "keras_jit_compile": JIT_COMPILE,
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


def apply_startup(path: str) -> dict[str, Any]:
    """Run a kernel start-up file (a lab's jlcompose_startup.py) in a namespace of its own, as
    IPython's exec_files does: the rows then run with the defaults a notebook kernel gets."""
    info: dict[str, Any] = {"path": path, "applied": False, "error": None}
    try:
        with open(path, encoding="utf-8") as fh:
            code = compile(fh.read(), path, "exec")
        exec(code, {"__name__": "__main__"})
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return info
    info["applied"] = True
    return info


def run(
    frameworks: list[str] | None = None,
    quick: bool = False,
    progress: Progress = _quiet,
    startup: str | None = None,
) -> dict[str, Any]:
    """Benchmark each installed framework; the result is JSON-ready.

    startup: a kernel start-up file to run first (None: this process's own defaults)."""
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "quick": quick,
        "python": platform.python_version(),
        "startup": apply_startup(startup) if startup else None,
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


def describe_settings(fw: dict[str, Any]) -> str:
    """One line: the defaults the rows ran with, where a row does not set its own."""
    s = fw.get("settings") or {}
    if fw.get("framework") == "torch" and s:
        p = s.get("fp32_precision") or {}
        return (
            f"cuDNN benchmark {'on' if s.get('cudnn_benchmark') else 'off'}; fp32 precision: "
            f"matmul {p.get('matmul')}, conv {p.get('conv')}, rnn {p.get('rnn')}"
        )
    if fw.get("framework") == "tf" and s:
        return (
            f"{s.get('keras')}, policy {s.get('keras_policy')}, jit_compile={s.get('keras_jit_compile')}; "
            f"TF32 {'on' if s.get('tf32') else 'off'}; TF_CUDNN_USE_AUTOTUNE={s.get('cudnn_autotune')}"
        )
    return ""


def describe_startup(info: dict[str, Any] | None) -> str:
    if info is None:
        return "this process's own defaults (no kernel start-up file)"
    if info.get("applied"):
        return f"the kernel start-up defaults ({info['path']})"
    why = info.get("error")
    return f"the start-up file {info.get('path')} did not run ({why}): the framework's own defaults"


def format_text(result: dict[str, Any]) -> str:
    lines = [f"settings: {describe_startup(result.get('startup'))}"]
    for fw in result["frameworks"]:
        head = f"{fw['framework']} {fw.get('version', '')} on {fw.get('device', '?')}"
        lines.append(head + (" (CPU smoke numbers, --quick)" if result.get("quick") else ""))
        if fw.get("skipped"):
            lines.append(f"  skipped: {fw['skipped']}")
        if describe_settings(fw):
            lines.append(f"  {describe_settings(fw)}")
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
    p.add_argument("--startup", metavar="FILE", help="run this kernel start-up file first")
    args = p.parse_args(argv)

    def progress(text: str) -> None:
        sys.stderr.write(f"bench: {text}\n")
        sys.stderr.flush()

    result = run(args.only, args.quick, progress, startup=args.startup)
    sys.stdout.write((json.dumps(result) if args.json else format_text(result)) + "\n")
    sys.stdout.flush()
    return 0 if any(fw.get("rows") for fw in result["frameworks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
