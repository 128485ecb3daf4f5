"""The first `up`: pull each missing base image, with progress, before anything is hashed or built.

Before hashing because the hash takes in the local base image's ID (targets.resolve): a base
that BuildKit pulled inside the build would leave no local image, and one pulled after hashing
would change the hash of the very next `up`, which would then rebuild and recreate the lab.
A base image already on this machine is never pulled again (update it with `docker pull`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from jlcompose import console
from jlcompose.core.composemodel import ComposeModel
from jlcompose.core.pullstatus import duration, size
from jlcompose.engine.api import Engine, ImageInfo, RemoteImage
from jlcompose.errors import RegistryError
from jlcompose.lab.waiting import PullView

log = logging.getLogger("jlcompose.lab")


def ensure_bases(
    engine: Engine, model: ComposeModel, names: Sequence[str], *, pull: bool
) -> dict[str, ImageInfo | None]:
    """Each base image of these services as it is here (targets.resolve hashes its ID), pulled
    first when it is missing and `pull` (not with --no-build). Two labs on one base: one pull."""
    found: dict[str, ImageInfo | None] = {}
    for name in names:
        base = model.service(name).checked_build_args().get("BASE_IMAGE")
        if not base or base in found:
            continue
        info = engine.image(base)
        if info is None and pull:
            pull_base(engine, name, base)
            info = engine.image(base)
        found[base] = info
    return found


def pull_base(engine: Engine, service: str, ref: str) -> None:
    remote: RemoteImage | None = None
    try:
        remote = engine.remote_image(ref)  # the layer sizes: byte progress
    except RegistryError as exc:
        # the daemon may reach what this host cannot (its own proxy or mirror): its pull decides,
        # and a failed pull says why in the daemon's words
        log.debug("no layer sizes for %s: %s (%s)", ref, exc.message, exc.detail)
    what = f"{size(remote.size)} in {len(remote.layers)} layers" if remote else "size unknown"
    console.step(f"{service}: pulling base image {ref} ({what}); only the first `up` needs this")
    with PullView(service, remote) as view:
        engine.pull(ref, service, view)
    console.ok(f"{service}: pulled {ref} in {duration(view.elapsed)} ({view.summary()})")
