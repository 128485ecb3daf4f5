"""`jlcompose url`: print the running lab's URL with its token."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.status import url

HELP = "print the running lab's URL (with the token)"
DESCRIPTION = """\
Print http://127.0.0.1:PORT/lab?token=... for a running lab, on stdout.

examples:
  jlcompose url             the default service
  jlcompose url tf --open   open the TensorFlow lab in a browser
  jlcompose url --json      {"service": "torch", "url": "http://..."} (exit 1 when it is down)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", nargs="?", metavar="SERVICE", help="service (default: torch)")
    p.add_argument("--open", action="store_true", help="open it in a web browser")
    p.add_argument("--json", action="store_true", help="print service and URL as JSON on stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    return url(ctx.project(), ctx.engine(), args.service, open_browser=args.open, as_json=args.json)
