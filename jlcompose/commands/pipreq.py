"""`jlcompose pipreq`: install packages into the running lab and record them in requirements.txt."""

from __future__ import annotations

import argparse

from jlcompose import console
from jlcompose.commands import Context
from jlcompose.engine.api import Engine
from jlcompose.errors import JlcomposeError
from jlcompose.lab.pipreq import choose, pipreq, validate

HELP = "install packages into the running lab and add them to its requirements.txt"
DESCRIPTION = """\
Add (or update) packages in docker_files/<service>/requirements.txt. When the lab runs,
pip installs them there first, live, so they import at once; the file changes only when
pip succeeded. When it does not run, the next `jlcompose up` builds them into the image.
Comments, order, options and line endings of the file stay as they were.

examples:
  jlcompose pipreq transformers              add to the torch lab (the default)
  jlcompose pipreq 'numpy==1.26.4' six       pin one, add another
  jlcompose pipreq --service tf keras-cv     the TensorFlow lab
  jlcompose pipreq --all rich                every lab of this project
  jlcompose pipreq --no-install polars       only edit the file
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("packages", nargs="+", metavar="PKG", help="requirement, e.g. numpy or 'numpy==1.26.4'")
    which = p.add_mutually_exclusive_group()
    which.add_argument("-s", "--service", help="the lab to change (default: the first default service)")
    which.add_argument("--all", action="store_true", help="every service of this project")
    p.add_argument(
        "--no-install", action="store_true", help="only edit the file; leave the running lab alone"
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    project = ctx.project()
    validate(args.packages)  # every argument checked before anything else happens
    services = choose(project, args.service, all_services=args.all)
    engine: Engine | None = None
    if not args.no_install:
        try:
            engine = ctx.engine()
        except JlcomposeError as exc:
            console.warn(f"cannot check the running lab: {exc.message}")
    return pipreq(project, engine, args.packages, services, install=not args.no_install)
