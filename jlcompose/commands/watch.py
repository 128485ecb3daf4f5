"""`jlcompose watch`: hot-install into the running lab whenever a requirements file changes."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.background import detach, stop_watcher
from jlcompose.lab.watch import watch

HELP = "hot-install packages into the running lab whenever a requirements file changes"
DESCRIPTION = """\
Watch docker_files/<service>/requirements.txt (and the files it includes with -r/-c).
When you save it, new and upgraded packages are pip-installed into the running lab
within a second or so; removals and option lines wait for the next `jlcompose up`,
which rebuilds the image. Saving without changing the content does nothing.

examples:
  jlcompose watch                 watch the default service (torch) until Ctrl-C
  jlcompose watch torch tf        watch both labs
  jlcompose watch --detach        keep watching in the background (log: .jlcompose/watch.log)
  jlcompose watch --stop          stop the background watcher
  jlcompose watch --rebuild       rebuild the image and recreate the lab on each change
  jlcompose watch --poll          poll the files (network drives, WSL's /mnt/c)

Ctrl-C exits with 130, `watch --stop` (SIGTERM) with 0; an install in progress is either
finished (SIGTERM) or abandoned before anything is recorded (Ctrl-C).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services to watch (default: torch)")
    p.add_argument("--poll", action="store_true", help="poll the files instead of file events")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild and recreate the lab instead of hot-installing",
    )
    bg = p.add_mutually_exclusive_group()
    bg.add_argument("--detach", action="store_true", help="keep watching in the background")
    bg.add_argument("--stop", action="store_true", help="stop the background watcher")


def run(args: argparse.Namespace, ctx: Context) -> int:
    project = ctx.project()
    if args.stop:
        return stop_watcher(project)
    if args.detach:
        return detach(project, args.services, poll=args.poll, rebuild=args.rebuild)
    return watch(project, ctx.engine(), args.services, poll=args.poll, rebuild=args.rebuild)
