"""Making a folder a jlcompose project: the shipped compose/, docker_files/ and .env.example.

The Compose project name defaults to the folder's name (baked into compose/compose.yaml
as `${JLC_PROJECT:-NAME}`), so two projects' labs never collide, with or without jlcompose.
A folder that already has a Compose file of its own gets the labs beside it, and, when asked,
an `include:` of them in that file.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from jlcompose import console
from jlcompose.core.config import sanitize_project_name
from jlcompose.errors import UsageError
from jlcompose.files import atomic_write

NAMES = ("compose", "docker_files", ".env.example")
THEIRS = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_DEFAULT_NAME = "${JLC_PROJECT:-jlcompose}"


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


def their_compose_file(directory: Path) -> Path | None:
    """A Compose file of the project's own at its root (not jlcompose's compose/compose.yaml)."""
    return next((directory / n for n in THEIRS if (directory / n).is_file()), None)


def services_in(text: str) -> list[str]:
    """The top-level service names of a Compose file, for a message (a plain scan, no YAML)."""
    names, inside = [], False
    for line in text.splitlines():
        if re.match(r"^services:\s*(#.*)?$", line):
            inside = True
        elif inside and re.match(r"^\S", line):
            inside = False
        elif inside and (m := re.match(r"^  ([A-Za-z0-9][\w.-]*):", line)):
            names.append(m.group(1))
    return names


def include_block() -> str:
    return (
        "\n# jlcompose's labs (compose/compose.yaml): `docker compose up torch` starts the PyTorch lab\n"
        "include:\n  - path: compose/compose.yaml\n    env_file: .env\n"
    )


def init(directory: Path, *, force: bool = False, add_to: bool = False, separate: bool = False) -> int:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder.")
    theirs = their_compose_file(directory) if directory.is_dir() else None
    if theirs is not None and not (add_to or separate):
        found = services_in(theirs.read_text(encoding="utf-8", errors="replace"))
        listed = f" (services: {', '.join(found)})" if found else ""
        raise UsageError(
            f"{directory} already has a Compose file of its own, {theirs.name}{listed}; nothing was written.",
            hint=f"`jlcompose init --add-to-compose` puts the labs in compose/ and includes them in "
            f"{theirs.name} (so `docker compose up torch` there starts one); `jlcompose init --separate` "
            "keeps the two apart.",
        )
    if add_to:
        if theirs is None:
            raise UsageError(f"{directory} has no Compose file to add the labs to ({', '.join(THEIRS)}).")
        if re.search(r"^include:", theirs.read_text(encoding="utf-8", errors="replace"), re.MULTILINE):
            raise UsageError(
                f"{theirs.name} already has an `include:` list; jlcompose won't edit it.",
                hint="add `- path: compose/compose.yaml` (with `env_file: .env`) to it by hand.",
            )
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
    name = sanitize_project_name(directory.resolve().name)
    for src, dest in plan:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.name == "compose.yaml" and src.parent.name == "compose":
            # this folder's own default project name, for plain Compose as for jlcompose
            text = src.read_text(encoding="utf-8").replace(_DEFAULT_NAME, f"${{JLC_PROJECT:-{name}}}")
            dest.write_text(text, encoding="utf-8")
        else:
            shutil.copy2(src, dest)
    console.ok(f"wrote {len(plan)} files into {directory.resolve()} (Compose project {name})")
    if add_to and theirs is not None:
        if not (directory / ".env").exists():  # the include reads it: an empty one to start with
            atomic_write(directory / ".env", b"# Compose variables (see .env.example)\n")
        atomic_write(theirs, theirs.read_bytes() + include_block().encode())
        console.ok(f"{theirs.name}: includes the labs (compose/compose.yaml)")
    console.info("next: `jlcompose up` (the PyTorch lab), then open the URL it prints")
    return 0
