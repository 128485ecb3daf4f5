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
from jlcompose.engine.api import Engine, RemoteImage
from jlcompose.errors import RegistryError
from jlcompose.lab.waiting import PullView

log = logging.getLogger("jlcompose.lab")


def missing_bases(engine: Engine, model: ComposeModel, names: Sequence[str]) -> dict[str, str]:
    """Base image -> the first service that needs it, for each base that is not here."""
    out: dict[str, str] = {}
    for name in names:
        base = model.service(name).checked_build_args().get("BASE_IMAGE")
        if base and base not in out and engine.image(base) is None:
            out[base] = name
    return out


def pull_missing(engine: Engine, model: ComposeModel, names: Sequence[str]) -> None:
    for base, service in missing_bases(engine, model, names).items():
        pull_base(engine, service, base)


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
