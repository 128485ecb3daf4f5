"""`jlcompose prune`: remove lab images whose hash is no longer current."""

from __future__ import annotations

import argparse

from jlcompose import console
from jlcompose.compose import Engine
from jlcompose.project import HASH_LABEL, Project, make_engine, open_project
from jlcompose.targets import resolve

HELP = "remove lab images of hashes that are no longer current"
DESCRIPTION = """\
Every requirements change makes a new image and keeps the old one, so reverting a change
needs no build. `prune` removes the old ones. Images a container still uses are kept.

examples:
  jlcompose prune --dry-run   list what would go
  jlcompose prune
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="only list the images")


def run(args: argparse.Namespace) -> int:
    project = open_project(args.project)
    return prune(project, make_engine(project), dry_run=args.dry_run)


def prune(project: Project, engine: Engine, *, dry_run: bool = False) -> int:
    engine.info()
    compose_config = engine.config()
    targets = resolve(project, engine, project.services.values(), compose_config)
    in_use = {c.image for c in engine.containers()}
    doomed = []
    for target in targets.values():
        for ref, labels in engine.images(target.repo):
            if labels.get(HASH_LABEL) != target.hash and ref not in in_use:
                doomed.append(ref)
    if not doomed:
        console.ok("no old lab images")
        return 0
    for ref in doomed:
        if dry_run:
            console.data(ref)
        else:
            engine.remove_image(ref)
            console.ok(f"removed {ref}")
    return 0
