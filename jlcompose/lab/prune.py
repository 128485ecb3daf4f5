"""Removing lab images whose hash is no longer current (reverting a change then needs a build)."""

from __future__ import annotations

import json

from jlcompose import console
from jlcompose.core import composemodel
from jlcompose.engine.api import Engine
from jlcompose.lab.build import HASH_LABEL
from jlcompose.lab.targets import collect_inputs, resolve
from jlcompose.project import Project


def prune(project: Project, engine: Engine, *, dry_run: bool = False, as_json: bool = False) -> int:
    engine.info()
    stack = project.stack(cpu=False)
    model = composemodel.parse(engine.config(stack))
    targets = resolve(engine, model, [collect_inputs(project, s) for s in project.services.values()])
    in_use = {c.image for c in engine.containers(stack)}
    doomed = []
    for target in targets.values():
        for image in engine.images(target.repo):
            if image.labels.get(HASH_LABEL) != target.hash and image.ref not in in_use:
                doomed.append(image.ref)
    if not doomed:
        console.ok("no old lab images")
    for ref in doomed:
        if dry_run:
            if not as_json:
                console.data(ref)
        else:
            engine.remove_image(ref)
            console.ok(f"removed {ref}")
    if as_json:  # removed: false with --dry-run, where they were only listed
        images = [{"ref": ref, "removed": not dry_run} for ref in doomed]
        console.data(json.dumps({"project": model.name, "dry_run": dry_run, "images": images}, indent=2))
    return 0
