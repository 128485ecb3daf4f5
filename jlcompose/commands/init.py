"""`jlcompose init`: give a project folder the compose stacks and Dockerfile."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from jlcompose import console
from jlcompose.assets import NAMES, assets_root
from jlcompose.errors import UsageError

HELP = "write compose/, docker_files/ and .env.example into a project folder"
DESCRIPTION = """\
Make DIR (default: this folder) a jlcompose project: it gets compose/ (the Compose
stacks), docker_files/ (Dockerfile and one requirements.txt per service) and
.env.example. Existing files are never overwritten unless --force.

examples:
  jlcompose init                  this folder
  jlcompose init ~/work/my-model  another folder (made if missing)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project folder (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")


def run(args: argparse.Namespace) -> int:
    return init(Path(args.dir), force=args.force)


def _files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    return sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def init(directory: Path, *, force: bool = False) -> int:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder.")
    root = assets_root()
    plan = []
    for name in NAMES:
        for src in _files(root / name):
            plan.append((src, directory / src.relative_to(root)))
    existing = [dest for _, dest in plan if dest.exists()]
    if existing and not force:
        shown = ", ".join(str(p.relative_to(directory)) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise UsageError(
            f"{directory} already has {shown}{more}; nothing was written.",
            hint="pass --force to overwrite them with jlcompose's versions.",
        )
    for src, dest in plan:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    console.ok(f"wrote {len(plan)} files into {directory.resolve()}")
    console.info("next: cp .env.example .env  (optional), then `jlcompose up torch`")
    return 0
