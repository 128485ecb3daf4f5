"""Pure: the hash of everything that shapes a lab image."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

# Bump when the meaning of the hash changes, so old images are not mistaken for current.
SCHEMA = "jlcompose-image-hash/1"


def normalize_requirements(text: str) -> str:
    """Drop comments, blank lines and trailing spaces; keep order (pip reads it in order)."""
    out = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if " #" in line or "\t#" in line:
            line = line.split(" #", 1)[0].split("\t#", 1)[0].rstrip()
        if line:
            out.append(" ".join(line.split()))
    return "\n".join(out)


def image_hash(
    files: Iterable[tuple[str, bytes]],
    build_args: Mapping[str, str],
    base_image_id: str | None = None,
) -> str:
    """sha256 over (relative path, content) pairs, the build arguments and the base image.

    Requirements files (names ending in .txt or .in) are hashed in normalized form, so a
    comment edit does not cost a rebuild; every other file is hashed byte for byte.
    """
    h = hashlib.sha256()
    h.update(SCHEMA.encode())
    for rel, content in sorted(files):
        if rel.endswith((".txt", ".in")):
            content = normalize_requirements(content.decode("utf-8", errors="replace")).encode()
        h.update(b"\0file\0" + rel.encode() + b"\0" + hashlib.sha256(content).digest())
    for key in sorted(build_args):
        h.update(b"\0arg\0" + key.encode() + b"=" + build_args[key].encode())
    if base_image_id:
        h.update(b"\0base-id\0" + base_image_id.encode())
    return h.hexdigest()


def short(digest: str) -> str:
    return digest[:12]
