"""`jlcompose pipreq`: install packages into the running lab and record them in requirements.txt."""

from __future__ import annotations

import argparse
import re

from jlcompose import console
from jlcompose.commands import Context
from jlcompose.errors import JlcomposeError, RequirementError

_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")

HELP = "install packages into the running lab and add them to its requirements.txt"
DESCRIPTION = """\
Add (or update) packages in docker_files/<service>/requirements.txt. When the lab runs,
they are installed there first, live (uv, as root, honouring the image's pip constraints),
so they import at once in running kernels; the file changes only when that worked. When
the lab does not run, the next `jlcompose up` builds them into the image. Comments, order,
options and line endings of the file stay as they were. In a notebook: %pipreq PKG.

examples:
  jlcompose pipreq transformers                add to the torch lab (the default)
  jlcompose pipreq 'numpy==1.26.4' six         pin one, add another
  jlcompose pipreq --service tf keras-cv       the TensorFlow lab
  jlcompose pipreq --all rich                  every lab of this project
  jlcompose pipreq --no-install polars         only edit the file
  jlcompose pipreq --unpin h11 'h11==0.16.0'   drop the image's pin of h11, then install
  jlcompose pipreq --json six                  what was added, updated or installed, as JSON
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    # "*" and not "+": `pipreq -e .` must reach the check that says why -e is refused
    p.add_argument("packages", nargs="*", metavar="PKG", help="requirement, e.g. numpy or 'numpy==1.26.4'")
    which = p.add_mutually_exclusive_group()
    which.add_argument("-s", "--service", help="the lab to change (default: the first default service)")
    which.add_argument("--all", action="store_true", help="every service of this project")
    p.add_argument(
        "--no-install", action="store_true", help="only edit the file; leave the running lab alone"
    )
    p.add_argument(
        "--unpin",
        action="append",
        default=[],
        metavar="NAME",
        help="drop the image's pip-constraint pin of NAME (kept in [tool.jlcompose] unpin; repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print what was done, per service, as JSON on stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.packages:
        raise RequirementError(
            "pipreq needs at least one package.", hint="e.g. jlcompose pipreq transformers 'numpy==1.26.4'"
        )
    for name in args.unpin:
        if not _NAME.fullmatch(name):
            raise RequirementError(f"--unpin takes a package name, not {name!r}.", hint="e.g. --unpin h11")
    if not args.no_install and not args.all:
        rc = _through_agent(ctx, args.service, args.packages, args.unpin, as_json=args.json)
        if rc is not None:
            return rc
    # no agent answered: plan on the host, install through `docker exec` (or only save the file)
    from jlcompose.lab.pipreq import choose, pipreq, validate

    project = ctx.project()
    validate(args.packages)  # every argument checked before anything else happens
    services = choose(project, args.service, all_services=args.all)
    engine = None
    if not args.no_install:
        try:
            engine = ctx.engine()
        except JlcomposeError as exc:
            console.warn(f"cannot check the running lab: {exc.message}")
    return pipreq(
        project,
        engine,
        args.packages,
        services,
        install=not args.no_install,
        unpin=args.unpin,
        as_json=args.json,
    )


def _through_agent(
    ctx: Context, name: str | None, packages: list[str], unpin: list[str], *, as_json: bool = False
) -> int | None:
    """The whole pipreq done by the running lab's install agent; None when none answers.

    The hot path: no Docker call, no python-on-whales, no packaging import here (the agent
    validates, installs and edits with the same modules).
    """
    from jlcompose.lab import agentclient

    if not agentclient.reachable():
        return None
    project = ctx.project()
    service = project.service(name or project.config.default_services[0])
    answer = agentclient.ask(
        agentclient.socket_for(project.config.state_dir, service.name),
        {"op": "pipreq", "packages": packages, "unpin": unpin},
        on_line=agentclient.until_error(console.dim),
        on_say=_say,
    )
    if answer is None:
        return None
    rc = agentclient.raise_if_error(answer)
    if as_json:
        import json

        # an agent of an older jlcompose (a lab not rebuilt since) answers without its result
        result = answer.get("result") or {"service": service.name}
        console.data(json.dumps({"services": [result]}, indent=2))
    return rc


def _say(kind: str, text: str) -> None:
    {"step": console.step, "ok": console.ok, "warn": console.warn, "error": console.error}.get(
        kind, console.info
    )(text)
