"""`jlcompose url`: print the running lab's URL with its token."""

from __future__ import annotations

import argparse
import webbrowser

from jlcompose import console
from jlcompose.compose import Engine
from jlcompose.errors import JlcomposeError
from jlcompose.lab import address_of, lab_url
from jlcompose.project import Project, make_engine, open_project

HELP = "print the running lab's URL (with the token)"
DESCRIPTION = """\
Print http://127.0.0.1:PORT/lab?token=... for a running lab, on stdout.

examples:
  jlcompose url             the default service
  jlcompose url tf --open   open the TensorFlow lab in a browser
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", nargs="?", metavar="SERVICE", help="service (default: torch)")
    p.add_argument("--open", action="store_true", help="open it in a web browser")


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    return url(project, make_engine(project), args.service, open_browser=args.open)


def url(project: Project, engine: Engine, name: str | None, *, open_browser: bool = False) -> int:
    service = project.pick([name] if name else [])[0]
    running = [c for c in engine.containers([service.name]) if c.running]
    if not running:
        raise JlcomposeError(
            f"the {service.name} lab is not running.", hint=f"start it: jlcompose up {service.name}"
        )
    address = address_of(engine.config(), service.name)
    if address is None:
        raise JlcomposeError(f"{service.name} publishes no port for JupyterLab (8888).")
    link = lab_url(address, project.token())
    console.data(link)
    if open_browser:
        webbrowser.open(link)
    return 0
