"""`jlcompose status`: what runs, on GPU or CPU, and whether its image is current."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.status import status

HELP = "show each lab: state, GPU or CPU, image current or stale, URL"
DESCRIPTION = """\
One row per service: whether it runs, on GPU or CPU, whether its image matches the
current requirements (current / stale / hot-installed packages not yet in the image),
and its URL. --json prints the same for scripts.

examples:
  jlcompose status
  jlcompose status --json | jq '.services[] | select(.state == "running")'
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    return status(ctx.project(), ctx.engine(), args.services, as_json=args.json)
