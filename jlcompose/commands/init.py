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
.env.example. Existing files are never overwritten unless --force. The Compose project
is named after the folder (JLC_PROJECT in .env changes it).

A folder with a Compose file of its own (compose.yaml, docker-compose.yml, ...) is not
given a second stack silently: choose --add-to-compose (the labs go into compose/ and your
file includes them) or --separate.

examples:
  jlcompose init                      this folder
  jlcompose init ~/work/my-model      another folder (made if missing)
  jlcompose init --add-to-compose     beside your compose.yaml, included from it
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project folder (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")
    theirs = p.add_mutually_exclusive_group()
    theirs.add_argument(
        "--add-to-compose",
        action="store_true",
        help="the folder has a Compose file: include the labs in it (an `include:` entry)",
    )
    theirs.add_argument(
        "--separate", action="store_true", help="the folder has a Compose file: leave it alone"
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    return init(Path(args.dir), force=args.force, add_to=args.add_to_compose, separate=args.separate)
