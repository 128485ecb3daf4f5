"""Running the benchmark in the labs (or here) and showing the results side by side."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from jlcompose import console
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import ExitCode, JlcomposeError, LabNotRunning
from jlcompose.gpu import bench as bench_module
from jlcompose.gpu import report
from jlcompose.project import Project

Runner = Callable[[bool], dict[str, Any]]
# where the lab image keeps the kernel start-up file (docker_files/Dockerfile copies lab/ there):
# the benchmark runs it first, so its rows run with what a notebook kernel in that lab gets
LAB_STARTUP = "/opt/jlcompose/lab/jlcompose_startup.py"


def bench_source() -> str:
    """The benchmark module's own text, sent to `python3 -c` inside a lab."""
    return Path(str(bench_module.__file__)).read_text(encoding="utf-8")


def _local(quick: bool) -> dict[str, Any]:
    return bench_module.run(quick=quick, progress=lambda text: console.info(f"  {text}"))


def parse_result(lines: Sequence[str]) -> dict[str, Any] | None:
    """The benchmark's JSON: the last output line that parses as a JSON object."""
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict) and "frameworks" in value:
                return value
    return None


def _in_lab(engine: Engine, stack: Stack, service: str, quick: bool) -> dict[str, Any]:
    argv = ["python3", "-c", bench_source(), "--json", "--startup", LAB_STARTUP]
    argv += ["--quick"] if quick else []
    lines: list[str] = []

    def feed(line: str) -> None:
        lines.append(line)
        if line.startswith("bench: "):
            console.info(f"  {service}: {line.removeprefix('bench: ')}")

    rc = engine.exec(stack, service, argv, user=None, on_line=feed)
    result = parse_result(lines)
    if result is None:
        raise JlcomposeError(
            f"the benchmark gave no result in the {service} lab (exit {rc}).",
            hint="the output above says why; `jlcompose logs` shows the lab's own log.",
            detail="\n".join(lines[-15:]),
        )
    return result


def render(runs: Sequence[tuple[str, Mapping[str, Any]]], quick: bool) -> None:
    cols = report.columns(runs)
    header, rows = report.side_by_side(cols)
    title = "CPU smoke numbers (--quick): not GPU measurements" if quick else "jlcompose bench"
    table = console.table(title=title, show_header=True, header_style="bold")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 else "right")
    for cells in rows:
        table.add_row(*cells)
    console.out.print(table)
    for label, fw in cols:
        gains = report.speedups(fw)
        where = f"{label} on {fw.get('device', '?')} ({fw.get('framework')} {fw.get('version')})"
        console.out.print(f"[bold]{escape(where)}[/]")
        for what, factor in gains:
            console.out.print(f"  {what}: {factor}")
        if bench_module.describe_settings(dict(fw)):
            console.out.print(f"  defaults: {escape(bench_module.describe_settings(dict(fw)))}")
        sm = [f"{r['name']} {r['sm_util']:.0f} %" for r in fw.get("rows", []) if r.get("sm_util") is not None]
        if sm:
            console.out.print("  SM busy (timed repeats only): " + ", ".join(sm))
    for where, result in runs:
        if report.columns([(where, result)]):
            startup = bench_module.describe_startup(result.get("startup"))
            console.info(f"{where or 'here'}: measured with {startup}")
    for line in report.skipped_reasons(cols):
        console.info(f"skipped: {line}")
    for line in report.not_run(runs):
        console.warn(f"not run: {line}")


def bench(
    project: Project | None,
    engine: Engine | None,
    services: Sequence[str],
    *,
    quick: bool,
    as_json: bool,
    local: Runner = _local,
) -> int:
    """Run the benchmark in each service's lab (or locally without services) and report."""
    runs: list[tuple[str, dict[str, Any]]] = []
    if not services:
        console.step("benchmarking in this Python" + (" (quick, CPU)" if quick else ""))
        runs.append(("", local(quick)))
    else:
        assert project is not None and engine is not None
        for name in dict.fromkeys(services):
            project.service(name)  # an unknown name fails before any lab is touched
        stack = project.stack(cpu=False)
        running = {c.service for c in engine.containers(stack, list(services)) if c.running}
        for name in dict.fromkeys(services):  # every lab checked before the first one is measured
            if name not in running:
                raise LabNotRunning(name)
        for name in dict.fromkeys(services):
            console.step(f"benchmarking in the {name} lab" + (" (quick, CPU)" if quick else ""))
            runs.append((name, _in_lab(engine, stack, name, quick)))
    if not report.columns(runs):
        reasons = "; ".join(report.not_run(runs)) or "no framework found"
        hint = (
            "the labs need PyTorch or TensorFlow (the NGC base images have them)"
            if services
            else "run it inside a lab: `jlcompose bench torch`"
        )
        raise JlcomposeError(
            f"nothing was measured ({reasons}).",
            hint=hint
            + ("" if quick or "--quick" in reasons else "; --quick runs a small CPU smoke test")
            + ".",
        )
    if as_json:
        console.data(json.dumps({"runs": [{"where": w or "local", **r} for w, r in runs]}))
    else:
        render(runs, quick)
    return int(ExitCode.OK)
