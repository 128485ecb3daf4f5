"""Pure: parse `nvidia-smi dmon` output by its header names, summarize it, and advise."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# `dmon -s u` columns on current drivers; older drivers lack jpg/ofa. Used only for data
# without a header (`--format csv,noheader`); a header, when there is one, always wins.
DEFAULT_NAMES: tuple[str, ...] = ("gpu", "sm", "mem", "enc", "dec", "jpg", "ofa")
UNDERUSED_SM = 50.0  # mean SM % below which a workload leaves most of the GPU idle
IDLE_SM = 5.0  # mean SM % below which nothing seems to run at all
HINTS: tuple[str, ...] = (
    "a bigger batch (or several samples per step) so each kernel has more work",
    "DataLoader(num_workers=N, pin_memory=True) and .to(device, non_blocking=True)",
    "mixed precision: torch.autocast / keras mixed_float16",
    "CUDA graphs or torch.compile for many small kernels",
    "check the input pipeline: time a loop over the data alone",
)
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{1,2}:\d{2}:\d{2}$")


@dataclass(frozen=True)
class Sample:
    """One GPU at one moment. Percentages are of the driver's sample period."""

    gpu: int
    sm: float | None  # % of time at least one kernel ran on the SMs
    mem: float | None  # memory-controller busy % (not capacity)
    fb_used_mib: float | None = None  # frame-buffer memory in use (`-s m`, or NVML)
    fb_total_mib: float | None = None  # NVML only; dmon does not report it
    stamp: str | None = None  # "20261126 14:19:01" with `-o DT`

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _tokens(line: str) -> list[str]:
    body = line.strip().lstrip("#").strip()
    if "," in body:
        return [t.strip() for t in body.split(",")]
    return body.split()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # '-', 'N/A': the driver has no value for this column


class DmonParser:
    """Feed lines as they stream in; it remembers the last header it saw."""

    def __init__(self, names: Sequence[str] | None = None) -> None:
        self.names: list[str] | None = [n.lower() for n in names] if names else None
        self.other: list[str] = []  # lines that were neither header nor data (error text)

    def feed(self, line: str) -> Sample | None:
        if not line.strip():
            return None
        tokens = _tokens(line)
        if line.lstrip().startswith("#"):
            lowered = [t.lower() for t in tokens]
            if "gpu" in lowered:  # the names line; the next one holds units (Idx, %, MB)
                self.names = lowered
            return None
        names = self.names or self._guess_names(tokens)
        row = dict(zip(names, tokens, strict=False))
        try:
            gpu = int(row["gpu"])
        except (KeyError, ValueError):
            self.other.append(line.rstrip())
            return None
        stamp = " ".join(row[k] for k in ("date", "time") if k in row) or None
        fb = row.get("fb")
        return Sample(
            gpu=gpu,
            sm=_number(row.get("sm", "-")),
            mem=_number(row.get("mem", "-")),
            fb_used_mib=_number(fb) if fb is not None else None,
            stamp=stamp,
        )

    @staticmethod
    def _guess_names(tokens: Sequence[str]) -> list[str]:
        if len(tokens) >= 2 and _DATE.match(tokens[0]) and _TIME.match(tokens[1]):
            return ["date", "time", *DEFAULT_NAMES]
        return list(DEFAULT_NAMES)


def parse_dmon(lines: Iterable[str] | str) -> list[Sample]:
    """Every sample in a dmon transcript (plain or CSV, with or without -o DT)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    parser = DmonParser()
    return [s for s in map(parser.feed, lines) if s is not None]


@dataclass(frozen=True)
class GpuSummary:
    gpu: int
    samples: int  # the samples summarized (the first one left out: first_dropped)
    sm_mean: float | None
    sm_min: float | None
    sm_max: float | None
    mem_mean: float | None
    fb_max_mib: float | None
    first_dropped: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def summarize(samples: Iterable[Sample], drop_first: bool = True) -> list[GpuSummary]:
    """Mean / min / max SM % and more per GPU, in GPU order.

    A GPU's first sample reports the driver's last sample period, which ended as sampling
    began: it measures what ran before (dmon's first row on the H200 captures, 27 % and 91 %,
    against 99 % and ~34 % after it). With drop_first it stays out of the summary when later
    samples exist."""
    by_gpu: dict[int, list[Sample]] = {}
    for s in samples:
        by_gpu.setdefault(s.gpu, []).append(s)
    out = []
    for gpu in sorted(by_gpu):
        group = by_gpu[gpu]
        dropped = drop_first and len(group) > 1
        group = group[1:] if dropped else group
        sm = _present(s.sm for s in group)
        mem = _present(s.mem for s in group)
        fb = _present(s.fb_used_mib for s in group)
        out.append(
            GpuSummary(
                gpu=gpu,
                samples=len(group),
                sm_mean=statistics.fmean(sm) if sm else None,
                sm_min=min(sm) if sm else None,
                sm_max=max(sm) if sm else None,
                mem_mean=statistics.fmean(mem) if mem else None,
                fb_max_mib=max(fb) if fb else None,
                first_dropped=dropped,
            )
        )
    return out


def underused(summaries: Iterable[GpuSummary], threshold: float = UNDERUSED_SM) -> bool:
    """True when a GPU did some work but left its SMs idle much of the time: HINTS apply."""
    return any(s.sm_mean is not None and IDLE_SM <= s.sm_mean < threshold for s in summaries)


def advice(summaries: Iterable[GpuSummary], threshold: float = UNDERUSED_SM) -> list[str]:
    """One warning sentence per GPU whose SMs sat idle much of the time (empty when all busy)."""
    out = []
    for s in summaries:
        if s.sm_mean is None:
            continue
        if s.sm_mean < IDLE_SM:
            out.append(f"GPU {s.gpu}: SMs idle (mean {s.sm_mean:.0f} %): nothing seems to run on it.")
        elif s.sm_mean < threshold:
            out.append(
                f"GPU {s.gpu}: SMs busy only {s.sm_mean:.0f} % of the time on average "
                f"(min {s.sm_min:.0f} %): the GPU waits for work."
            )
    return out
