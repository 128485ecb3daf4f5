"""Quick builds: when requirements only gained lines, install just those on the previous image.

A full build starts from the base image and reinstalls every requirement (from a warm cache,
but the resolver still asks the index about each one). When the only change since an existing
lab image is new lines in requirements.txt, and everything else that shapes the image is the
same, jlcompose builds FROM that image instead: the installer finds the old packages already
there and resolves and installs only the new ones. The image gets the tag and hash label a full
build would; `jlcompose up --rebuild` makes a full build of the same hash whenever wanted, and
after MAX_DEPTH quick builds in a row the next one is full anyway.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from jlcompose.core import hashing

INPUTS_LABEL = "org.jlcompose.inputs"  # hash of everything but requirements.txt
REQUIREMENTS_LABEL = "org.jlcompose.requirements"  # base64 of the normalized requirements
DEPTH_LABEL = "org.jlcompose.quick-depth"
MAX_DEPTH = 5


@dataclass(frozen=True)
class Quick:
    previous: str  # the image to build FROM
    added: tuple[str, ...]
    depth: int


def inputs_hash(
    files: Iterable[tuple[str, bytes]],
    requirements_rel: str,
    build_args: Mapping[str, str],
    base_id: str | None,
) -> str:
    """The image hash of everything except the service's requirements.txt."""
    rest = [(rel, data) for rel, data in files if rel != requirements_rel]
    return hashing.image_hash(rest, build_args, base_id)


def encode(requirements_text: str) -> str:
    return base64.b64encode(hashing.normalize_requirements(requirements_text).encode()).decode()


def decode(label: str) -> list[str] | None:
    try:
        return base64.b64decode(label.encode(), validate=True).decode().splitlines()
    except (binascii.Error, UnicodeDecodeError):
        return None


def choose_previous(
    images: Iterable[tuple[str, Mapping[str, str]]], inputs: str, requirements_text: str
) -> Quick | None:
    """Pick the closest existing image that the new requirements only add lines to."""
    wanted = hashing.normalize_requirements(requirements_text).splitlines()
    best: Quick | None = None
    for ref, labels in images:
        if labels.get(INPUTS_LABEL) != inputs:
            continue
        had = decode(labels.get(REQUIREMENTS_LABEL, ""))
        if had is None:
            continue
        try:
            depth = int(labels.get(DEPTH_LABEL, "0"))
        except ValueError:
            continue
        # the old lines must stay, in order, at the start: pip reads a file top to bottom
        if depth >= MAX_DEPTH or wanted[: len(had)] != had or len(wanted) == len(had):
            continue
        added = tuple(wanted[len(had) :])
        # only plain requirements; an option line (-r, --index-url ...) needs a full build
        if any(line.startswith("-") for line in added):
            continue
        if best is None or len(added) < len(best.added):
            best = Quick(previous=ref, added=added, depth=depth + 1)
    return best


def override_yaml(service: str, quick: Quick) -> str:
    """A compose override that builds `service` FROM the previous image (Compose ≥ 2.17)."""
    # `$$` because Compose interpolates variables in every value, the inline Dockerfile too
    dockerfile = f"""\
FROM {quick.previous}
USER root
ARG JLC_SERVICE={service}
COPY {service}/ /opt/jlcompose/requirements/
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=cache,target=/root/.cache/pip \\
    set -e; cd /opt/jlcompose/requirements; \\
    export UV_CACHE_DIR=/root/.cache/uv PIP_CACHE_DIR=/root/.cache/pip; \\
    if [ -d /opt/jlcompose/lab/lib/jlcompose ] && command -v uv >/dev/null; then \\
      PYTHONPATH=/opt/jlcompose/lab/lib python3 -m jlcompose.inlab.install --file requirements.txt; \\
    else \\
      c=""; if [ -n "$${{PIP_CONSTRAINT:-}}" ] && [ -s "$${{PIP_CONSTRAINT}}" ]; then \\
        c="--constraint $${{PIP_CONSTRAINT}}"; fi; \\
      if command -v uv >/dev/null; then \\
        uv pip install --system --break-system-packages $$c -r requirements.txt; \\
      else python3 -m pip install $$c -r requirements.txt; fi; \\
    fi
ARG JLC_HASH=unknown
ARG JLC_INPUTS=unknown
ARG JLC_REQUIREMENTS=
LABEL org.jlcompose.hash=$${{JLC_HASH}} org.jlcompose.inputs=$${{JLC_INPUTS}} \\
      org.jlcompose.requirements=$${{JLC_REQUIREMENTS}} org.jlcompose.quick-depth={quick.depth} \\
      org.jlcompose.quick-from={quick.previous}
"""
    indented = "".join(f"        {line}\n" for line in dockerfile.splitlines())
    return (
        "# written by jlcompose for one quick build; safe to delete\n"
        f"services:\n  {service}:\n    build:\n      dockerfile: !reset null\n"
        f"      dockerfile_inline: |\n{indented}"
    )
