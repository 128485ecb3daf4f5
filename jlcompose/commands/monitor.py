"""`jlcompose monitor`: live SM and memory use per GPU, then a summary with advice."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.engine.api import Engine
from jlcompose.errors import UsageError
from jlcompose.gpu.monitor import monitor
from jlcompose.project import Project

HELP = "live GPU utilization (SM busy, memory) with a summary and hints"
DESCRIPTION = """\
Show each GPU's SM busy %, memory-controller busy % and memory in use, live. On exit
(Ctrl-C, --count or --once) print the mean and minimum SM % and, when the SMs sat idle
much of the time, what usually helps.

examples:
  jlcompose monitor                 the host's GPUs (NVML, else nvidia-smi dmon)
  jlcompose monitor torch           from inside the running torch lab
  jlcompose monitor --count 30      30 samples, then the summary
  jlcompose monitor --once --json   one sample per GPU as JSON lines, then the summary
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", nargs="?", metavar="SERVICE", help="sample inside this lab")
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between samples (default 1; whole seconds with nvidia-smi)",
    )
    p.add_argument("--count", type=int, metavar="N", help="stop after N samples per GPU")
    p.add_argument("--once", action="store_true", help="one sample per GPU (= --count 1)")
    p.add_argument(
        "--json", action="store_true", help="JSON lines on stdout: one per sample, then the summary"
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.interval <= 0 or (args.count is not None and args.count < 1):
        raise UsageError("--interval must be above 0 and --count at least 1.")
    count = 1 if args.once else args.count
    project: Project | None = None
    engine: Engine | None = None
    if args.service:
        project = ctx.project()
        project.service(args.service)
        engine = ctx.engine()
    return monitor(project, engine, args.service, interval=args.interval, count=count, as_json=args.json)
