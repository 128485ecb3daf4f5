"""`jlcompose lock`: record what the running lab has, so rebuilds come out the same."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.lock import lock

HELP = "write docker_files/SERVICE/requirements.lock from what the running lab has installed"
DESCRIPTION = """\
Freeze the running lab: every package it has, at its exact version, except those the base
image's pip constraint file ($PIP_CONSTRAINT, NGC's pins) pins already. `jlcompose up` then
builds from the lock while requirements.txt says what it said when the lock was made; after
an edit it builds from requirements.txt and says so. `pipreq` locks again by itself
(docs/lock.md).

examples:
  jlcompose lock              the torch lab (the default service)
  jlcompose lock tf           the TensorFlow lab
  jlcompose lock --hashes     with the sha256 of every file (uv pip compile --generate-hashes)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="labs to lock (default: torch)")
    p.add_argument(
        "--hashes",
        action="store_true",
        help="also record each package file's sha256 (the build then checks them)",
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    return lock(ctx.project(), ctx.engine(), args.services, hashes=args.hashes)
