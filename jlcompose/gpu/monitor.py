"""Sampling GPU utilization (NVML, nvidia-smi dmon, or dmon inside a lab) and summarizing it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.live import Live

from jlcompose import console
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import ExitCode, JlcomposeError, LabNotRunning
from jlcompose.gpu import dmon
from jlcompose.gpu.dmon import DmonParser, GpuSummary, Sample
from jlcompose.gpu.nvml import NvmlSampler, dmon_argv, load_nvml, smi_path
from jlcompose.project import Project

SampleSink = Callable[[Sample], None]
CHUNK = 10  # samples per `docker exec` in a lab: a Ctrl-C leaves dmon running no longer


def _no_gpu_here() -> JlcomposeError:
    return JlcomposeError(
        "no NVIDIA GPU found on this machine (neither NVML nor nvidia-smi answered).",
        hint="`jlcompose monitor SERVICE` samples inside a running lab; `jlcompose doctor` "
        "checks the driver.",
    )


def nvml_samples(
    nvml: Any, interval: float, count: int | None, sleep: Callable[[float], None] = time.sleep
) -> Iterator[Sample]:
    sampler = NvmlSampler(nvml)
    try:
        done = 0
        while count is None or done < count:
            if done:
                sleep(interval)
            yield from sampler.round()
            done += 1
    finally:
        sampler.close()


def smi_samples(smi: str, interval: float, count: int | None) -> Iterator[Sample]:
    parser = DmonParser()
    got = False
    with subprocess.Popen(  # noqa: S603  # nvidia-smi with fixed arguments
        dmon_argv(smi, interval, count),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sample = parser.feed(line)
                if sample is not None:
                    got = True
                    yield sample
        finally:
            proc.terminate()  # Ctrl-C or --count reached: dmon must not outlive us
    if not got:
        raise JlcomposeError(
            "nvidia-smi reported no GPU on this machine.",
            detail="\n".join(parser.other[-5:]) or None,
            hint="`jlcompose doctor` checks the driver.",
        )


def host_samples(interval: float, count: int | None) -> Iterator[Sample]:
    nvml = load_nvml()
    if nvml is not None:
        return nvml_samples(nvml, interval, count)
    smi = smi_path()
    if smi is not None:
        return smi_samples(smi, interval, count)
    raise _no_gpu_here()


def lab_samples(
    engine: Engine,
    stack: Stack,
    service: str,
    *,
    interval: float,
    count: int | None,
    on_sample: SampleSink,
) -> None:
    """dmon inside the lab, in short runs: stopping the exec client would not stop dmon."""
    parser = DmonParser()
    done, total = 0, 0
    got = [0]  # samples of the current run

    def feed(line: str) -> None:
        sample = parser.feed(line)
        if sample is not None:
            got[0] += 1
            on_sample(sample)

    while count is None or done < count:
        chunk = CHUNK if count is None else min(CHUNK, count - done)
        got[0] = 0
        rc = engine.exec(stack, service, dmon_argv("nvidia-smi", interval, chunk), user=None, on_line=feed)
        total += got[0]
        if rc != 0 or got[0] == 0:
            if total:
                return  # it worked for a while: summarize what we have
            raise JlcomposeError(
                f"no GPU in the {service} lab: nvidia-smi failed there (exit {rc}).",
                detail="\n".join(parser.other[-5:]) or None,
                hint="a lab started with --cpu (or on a machine without GPU) has none; "
                "`jlcompose status` shows GPU or CPU.",
            )
        done += chunk


def _cell(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


def _line(s: Sample) -> str:
    return (
        f"GPU {s.gpu}: SM {_cell(s.sm, ' %')}, mem ctrl {_cell(s.mem, ' %')}, "
        f"memory {_cell(s.fb_used_mib, ' MiB')}"
    )


def live_table(latest: dict[int, Sample], history: list[Sample]) -> Any:
    summaries = {s.gpu: s for s in dmon.summarize(history)}
    table = console.table(show_header=True, header_style="bold", box=None)
    for name in ("GPU", "SM", "mem ctrl", "memory used", "mean SM", "min SM"):
        table.add_column(name, justify="right")
    for gpu in sorted(latest):
        s, summary = latest[gpu], summaries[gpu]
        used = _cell(s.fb_used_mib, " MiB")
        if s.fb_total_mib:
            used += f" / {s.fb_total_mib:.0f} MiB"
        table.add_row(
            str(gpu),
            _cell(s.sm, " %"),
            _cell(s.mem, " %"),
            used,
            _cell(summary.sm_mean, " %"),
            _cell(summary.sm_min, " %"),
        )
    return table


def show_summary(summaries: list[GpuSummary], warnings: list[str]) -> None:
    table = console.table(title="summary", show_header=True, header_style="bold", box=None)
    for name in ("GPU", "samples", "mean SM", "min SM", "max SM", "mean mem ctrl", "max memory"):
        table.add_column(name, justify="right")
    for s in summaries:
        table.add_row(
            str(s.gpu),
            str(s.samples),
            _cell(s.sm_mean, " %"),
            _cell(s.sm_min, " %"),
            _cell(s.sm_max, " %"),
            _cell(s.mem_mean, " %"),
            _cell(s.fb_max_mib, " MiB"),
        )
    console.err.print(table)
    if any(s.first_dropped for s in summaries):
        console.info("not in the summary: each GPU's first sample (it covers the time before monitoring)")
    for line in warnings:
        console.warn(line)
    if dmon.underused(summaries):
        console.info("what usually helps:")
        for hint in dmon.HINTS:
            console.info(f"  - {hint}")


def monitor(
    project: Project | None,
    engine: Engine | None,
    service: str | None,
    *,
    interval: float,
    count: int | None,
    as_json: bool,
) -> int:
    """Sample until Ctrl-C or `count` samples per GPU, then summarize."""
    stack: Stack | None = None
    if service:
        assert engine is not None and project is not None
        stack = project.stack(cpu=False)
        if not any(c.running for c in engine.containers(stack, [service])):
            raise LabNotRunning(service)
    history: list[Sample] = []
    latest: dict[int, Sample] = {}
    live = None
    interrupted = False
    if not as_json and console.is_terminal():
        live = Live(console=console.err, auto_refresh=False, transient=True)
        live.start()

    def on_sample(sample: Sample) -> None:
        history.append(sample)
        latest[sample.gpu] = sample
        if as_json:
            console.data(json.dumps(sample.to_json()))
        elif live is not None:
            live.update(live_table(latest, history), refresh=True)
        else:
            console.info(_line(sample))

    try:
        if service:
            assert stack is not None and engine is not None
            lab_samples(engine, stack, service, interval=interval, count=count, on_sample=on_sample)
        else:
            samples = host_samples(interval, count)
            try:
                for sample in samples:
                    on_sample(sample)
            finally:
                close = getattr(samples, "close", None)
                if close is not None:
                    close()
    except KeyboardInterrupt:
        interrupted = True  # the normal way to stop: summarize below
    finally:
        if live is not None:
            live.stop()
    if not history and not interrupted:
        raise JlcomposeError("no GPU samples came back.", hint="`jlcompose doctor` checks the driver.")
    summaries = dmon.summarize(history)
    warnings = dmon.advice(summaries)
    if as_json:
        hints = list(dmon.HINTS) if dmon.underused(summaries) else []
        doc = {"summary": [s.to_json() for s in summaries], "warnings": warnings, "hints": hints}
        console.data(json.dumps(doc))
    else:
        show_summary(summaries, warnings)
    return int(ExitCode.OK)
