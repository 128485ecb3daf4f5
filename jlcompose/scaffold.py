"""Making a folder a jlcompose project: the shipped compose/, docker_files/ and .env.example."""

from __future__ import annotations

import shutil
from pathlib import Path

from jlcompose import console
from jlcompose.errors import UsageError

NAMES = ("compose", "docker_files", ".env.example")


def assets_root() -> Path:
    here = Path(__file__).resolve().parent
    packaged = here / "_assets"
    if (packaged / "compose").is_dir():
        return packaged
    # a source checkout or editable install: the files at the top of the repository
    return here.parent


def _files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    # lab/lib/ is written by `jlcompose up` from the installed jlcompose, never copied
    return sorted(
        p
        for p in src.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(src).parts[:2] != ("lab", "lib")
    )


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
