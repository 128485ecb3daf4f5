"""`jlcompose down`: stop and remove the lab containers; files and images stay."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jlcompose import console
from jlcompose.compose import Engine
from jlcompose.project import Project, make_engine, open_project

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


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    return down(project, make_engine(project), args.services)


def down(project: Project, engine: Engine, names: Sequence[str]) -> int:
    services = [s.name for s in project.pick(names)] if names else None
    engine.info()
    running = [c for c in engine.containers(services) if c.running]
    engine.down(services)
    if running:
        console.ok(f"stopped {', '.join(sorted({c.service for c in running}))}")
    else:
        console.ok("nothing was running")
    return 0
