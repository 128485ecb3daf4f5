"""`jlcompose down`: stop and remove the lab containers; files and images stay."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.down import down

HELP = "stop the labs (your files, images and the token stay)"
DESCRIPTION = """\
Stop and remove the lab containers. Your project files, the built images, the token and
the caches (~/.cache in the labs: Hugging Face and torch hub downloads, pip's and uv's)
stay, so the next `jlcompose up` starts in seconds without a build or a re-download.

examples:
  jlcompose down            every lab of this project
  jlcompose down tf         only the TensorFlow lab
  jlcompose down --volumes  every lab, and the caches too
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services to stop (default: all)")
    p.add_argument(
        "--volumes",
        action="store_true",
        help="also remove the project's caches (~/.cache of the labs: models, datasets; uv's downloads)",
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    return down(ctx.project(), ctx.engine(), args.services, volumes=args.volumes)
