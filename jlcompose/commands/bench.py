"""`jlcompose bench`: copy, matmul, LSTM and conv speed in the labs (or here), side by side."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.gpu.benchrun import bench

HELP = "PyTorch vs TensorFlow: copies, matmul, LSTM and conv steps, GPU utilization"
DESCRIPTION = """\
Measure what the tuning guide talks about: pinned vs pageable copies, matmul in fp32,
TF32, fp16 and bf16, an LSTM and a ResNet-50 training step, fp32 vs mixed precision,
cuDNN autotuning off vs on, and the GPU's SM utilization during each. In a lab, the lab's
kernel start-up file runs first, so the rows run with the defaults a notebook gets.

examples:
  jlcompose bench torch           in the running torch lab (PyTorch)
  jlcompose bench torch tf        both labs, side by side with ratios
  jlcompose bench                 in this Python (PyTorch and/or TensorFlow installed here)
  jlcompose bench --quick         tiny sizes on the CPU: a smoke test, not a measurement
  jlcompose bench torch --json    the raw results as JSON on stdout

The same benchmark runs without jlcompose: python -m jlcompose.gpu.bench [--quick] [--json]
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="running labs to measure in")
    p.add_argument("--quick", action="store_true", help="tiny sizes on the CPU (smoke test)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.services:
        return bench(None, None, [], quick=args.quick, as_json=args.json)
    return bench(ctx.project(), ctx.engine(), args.services, quick=args.quick, as_json=args.json)
