"""`jlcompose down`: stop and remove the lab containers; files and images stay."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.down import down

HELP = "stop the labs (your files, images and the token stay)"
DESCRIPTION = """\
Stop and remove the lab containers. Your project files, the built images and the
token stay, so the next `jlcompose up` starts in seconds without a build.

examples:
  jlcompose down            every lab of this project
  jlcompose down tf         only the TensorFlow lab
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services to stop (default: all)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    return down(ctx.project(), ctx.engine(), args.services)
