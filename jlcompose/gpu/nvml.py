"""Host GPUs through NVML (nvidia-ml-py) or nvidia-smi; every path degrades to "no GPU"."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jlcompose.gpu.dmon import Sample

log = logging.getLogger("jlcompose.gpu")

QUERY_FIELDS = "index,name,driver_version,memory.total"
# WSL2 puts the Windows driver's tools here, not always on PATH
WSL_SMI = Path("/usr/lib/wsl/lib/nvidia-smi")


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    driver: str
    memory_total_mib: float | None


def parse_query_gpu(text: str) -> list[GpuInfo]:
    """Pure: parse `nvidia-smi --query-gpu=QUERY_FIELDS --format=csv,noheader,nounits`."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            index = int(parts[0])
        except ValueError:
            continue
        try:
            memory: float | None = float(parts[3])
        except ValueError:
            memory = None
        out.append(GpuInfo(index=index, name=parts[1], driver=parts[2], memory_total_mib=memory))
    return out


def _text(value: Any) -> str:
    # nvidia-ml-py < 12 returned bytes; 12 and later return str
    return value.decode() if isinstance(value, bytes) else str(value)


def load_nvml() -> Any | None:
    """The initialized pynvml module, or None without the package or a driver."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        log.debug("NVML unavailable: %s", exc)
        return None
    return pynvml


def nvml_gpus() -> list[GpuInfo] | None:
    nvml = load_nvml()
    if nvml is None:
        return None
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        out = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            total = nvml.nvmlDeviceGetMemoryInfo(h).total / 2**20
            out.append(GpuInfo(i, _text(nvml.nvmlDeviceGetName(h)), driver, total))
        return out
    except Exception as exc:
        log.debug("NVML query failed: %s", exc)
        return None
    finally:
        nvml.nvmlShutdown()


def smi_path() -> str | None:
    found = shutil.which("nvidia-smi")
    if found is None and WSL_SMI.is_file():
        found = str(WSL_SMI)
    return found


def smi_gpus(run: Callable[..., Any] = subprocess.run) -> list[GpuInfo] | None:
    smi = smi_path()
    if smi is None:
        return None
    argv = [smi, f"--query-gpu={QUERY_FIELDS}", "--format=csv,noheader,nounits"]
    try:
        done = run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return None
    if done.returncode != 0:
        log.debug("nvidia-smi exit %s: %s", done.returncode, done.stderr)
        return None
    return parse_query_gpu(done.stdout)


def host_gpus() -> tuple[list[GpuInfo], str]:
    """The host's GPUs and where we learnt of them ("NVML", "nvidia-smi", or "" for none)."""
    gpus = nvml_gpus()
    if gpus is not None:
        return gpus, "NVML"
    gpus = smi_gpus()
    if gpus is not None:
        return gpus, "nvidia-smi"
    return [], ""


class NvmlSampler:
    """Utilization of every GPU, one round per call, from an initialized pynvml module."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        count = nvml.nvmlDeviceGetCount()
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def round(self) -> list[Sample]:
        out = []
        for i, h in enumerate(self.handles):
            u = self.nvml.nvmlDeviceGetUtilizationRates(h)
            m = self.nvml.nvmlDeviceGetMemoryInfo(h)
            out.append(
                Sample(
                    gpu=i,
                    sm=float(u.gpu),
                    mem=float(u.memory),
                    fb_used_mib=m.used / 2**20,
                    fb_total_mib=m.total / 2**20,
                )
            )
        return out

    def close(self) -> None:
        self.nvml.nvmlShutdown()


def dmon_argv(smi: str, interval: float, count: int | None) -> list[str]:
    # `-s um`: utilization plus frame-buffer use; dmon takes whole seconds only
    argv = [smi, "dmon", "-s", "um", "-d", str(max(1, round(interval)))]
    if count is not None:
        argv += ["-c", str(count)]
    return argv
