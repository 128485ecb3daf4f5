"""Where the shipped compose/, docker_files/ and .env.example live (wheel or checkout)."""

from __future__ import annotations

from pathlib import Path

NAMES = ("compose", "docker_files", ".env.example")


def assets_root() -> Path:
    here = Path(__file__).resolve().parent
    packaged = here / "_assets"
    if (packaged / "compose").is_dir():
        return packaged
    # a source checkout or editable install: the files at the top of the repository
    return here.parent
