"""`jlcompose prune`: remove lab images whose hash is no longer current."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.prune import prune

HELP = "remove lab images of hashes that are no longer current"
DESCRIPTION = """\
Every requirements change makes a new image and keeps the old one, so reverting a change
needs no build. `prune` removes the old ones. Images a container still uses are kept.

examples:
  jlcompose prune --dry-run   list what would go
  jlcompose prune
  jlcompose prune --json      what went, as JSON on stdout
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="only list the images")
    p.add_argument("--json", action="store_true", help="print the images (removed or not) as JSON on stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    return prune(ctx.project(), ctx.engine(), dry_run=args.dry_run, as_json=args.json)
