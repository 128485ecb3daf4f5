"""`jlcompose doctor`: check Docker, Compose, GPUs, driver, WSL, disk, ports and inotify."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.errors import UsageError
from jlcompose.gpu.doctor import doctor
from jlcompose.project import Project

HELP = "check Docker, Compose, GPUs, driver, disk, ports and file watching"
DESCRIPTION = """\
Check everything a GPU lab needs and say how to fix what is missing.

examples:
  jlcompose doctor          a table: ok / warn / fail, with a fix for each problem
  jlcompose doctor --json   the same as JSON on stdout (exit 1 when a check fails)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the checks as JSON on stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    try:
        project: Project | None = ctx.project()
    except UsageError:
        project = None  # outside a project: host and engine checks still help
    return doctor(project, ctx.engine(), as_json=args.json)
