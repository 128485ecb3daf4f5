"""`jlcompose up`: build only what changed, then start (or keep) the lab and print its URL."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.up import up

HELP = "build the lab image if what shapes it changed, start the lab, print its URL"
DESCRIPTION = """\
Build the lab image only when its hash changed (requirements, Dockerfile, base image,
build args), start JupyterLab with this folder mounted at /workspace, wait until it
answers, and print http://127.0.0.1:PORT/lab?token=... on stdout.

A build always finishes before the running lab is touched: a failed build leaves it
running as it was. On an engine without NVIDIA support the lab starts on CPU.

examples:
  jlcompose up                 the default service (torch)
  jlcompose up torch tf        both labs (ports 8888 and 8889)
  jlcompose up --cpu           no GPU reservation, even where one is possible
  jlcompose up --rebuild       build and replace the container even if nothing changed
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help="services to start (default: torch)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--cpu", action="store_true", help="start without a GPU reservation")
    mode.add_argument("--gpu", action="store_true", help="insist on a GPU; fail if the engine has none")
    build = p.add_mutually_exclusive_group()
    build.add_argument("--rebuild", action="store_true", help="build and recreate even if nothing changed")
    build.add_argument("--no-build", action="store_true", help="never build; fail if the image is missing")
    p.add_argument(
        "--recreate",
        action="store_true",
        help="replace a running lab that has hot-installed packages with the new image",
    )
    p.add_argument("--open", action="store_true", help="open the lab in a web browser")
    p.add_argument("--watch", action="store_true", help="then keep watching requirements (see `watch`)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    project = ctx.project()
    gpu = "cpu" if args.cpu else "gpu" if args.gpu else project.config.gpu
    rc = up(
        project,
        ctx.engine,  # opened by `up` only past its fast path: python-on-whales costs ~0.3 s to load
        args.services,
        gpu=gpu,
        rebuild=args.rebuild,
        no_build=args.no_build,
        recreate=args.recreate,
        open_browser=args.open,
    )
    if rc == 0 and args.watch:
        from jlcompose.lab.watch import watch  # only here: keeps the fast `up` fast

        return watch(project, ctx.engine(), args.services, poll=False, rebuild=False)
    return rc
