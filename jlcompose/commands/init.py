"""`jlcompose init`: give a project folder the compose stacks and Dockerfile."""

from __future__ import annotations

import argparse
from pathlib import Path

from jlcompose.commands import Context
from jlcompose.scaffold import init

HELP = "write compose/, docker_files/ and .env.example into a project folder"
DESCRIPTION = """\
Make DIR (default: this folder) a jlcompose project: it gets compose/ (the Compose
stacks), docker_files/ (Dockerfile and one requirements.txt per service) and
.env.example. Existing files are never overwritten unless --force.

examples:
  jlcompose init                  this folder
  jlcompose init ~/work/my-model  another folder (made if missing)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project folder (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")


def run(args: argparse.Namespace, ctx: Context) -> int:
    return init(Path(args.dir), force=args.force)
