"""`jlcompose logs`: the lab's output (JupyterLab's log, kernel messages)."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.logs import logs

HELP = "show a lab's log (-f to follow)"
DESCRIPTION = """\
Show JupyterLab's log for a service. The token never appears in it: JupyterLab masks
tokens it did not make itself.

examples:
  jlcompose logs            the default service, last 200 lines
  jlcompose logs -f tf      follow the TensorFlow lab (Ctrl-C to stop)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", nargs="?", metavar="SERVICE", help="service (default: torch)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--tail", type=int, default=200, metavar="N", help="lines to show (default 200)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    return logs(ctx.project(), ctx.engine(), args.service, follow=args.follow, tail=args.tail)
