"""`jlcompose sync`: bring a remote lab's workspace volume and this folder in step."""

from __future__ import annotations

import argparse

from jlcompose.commands import Context
from jlcompose.lab.syncing import follow_link, sync_now

HELP = "on a remote engine: sync the project folder with the lab's workspace volume now"
DESCRIPTION = """\
On a remote Docker engine (DOCKER_HOST=ssh://..., or a Docker context naming one) the lab
works on a volume there that mirrors this folder; `jlcompose up` fills it and starts a
background link that syncs both ways every half second and forwards the lab's port
(docs/remote.md). `sync` makes one round now and says what moved. On a local engine there
is nothing to do: the lab sees this very folder.

examples:
  jlcompose sync            one round now, both ways
  jlcompose sync --follow   what `up` runs in the background: forwards and a round every 0.5 s
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--follow",
        action="store_true",
        help="keep forwarding the labs' ports and syncing until stopped (what `up` starts)",
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.follow:
        return follow_link(ctx.project(), ctx.engine())
    return sync_now(ctx.project(), ctx.engine())
