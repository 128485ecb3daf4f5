"""What the running lab has installed, for `jlcompose lock`: run inside the lab.

`python3 -m jlcompose.inlab.lock [--hashes] [--option LINE]...` prints one line,
`JLC-LOCK {json}`: the lab's `pip freeze` without the packages its pip constraint files pin
(core/lockfile.py), and with --hashes the same pins as `uv pip compile --generate-hashes`
writes them (LINE: requirements.txt's index options, so uv looks where the build looks).
The install agent calls `write()` after a %pipreq or a `jlcompose pipreq` it served.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from jlcompose.core import lockfile
from jlcompose.files import atomic_write
from jlcompose.inlab.install import PIP_ENV, constraint_files

PREFIX = "JLC-LOCK "


def _run(argv: list[str], *, stdin: str | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - this image's own pip / uv, fixed arguments
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **PIP_ENV},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def freeze() -> list[str]:
    """`pip freeze` of the lab's Python (uv's where the image has no pip)."""
    try:
        return _run([sys.executable, "-m", "pip", "freeze"]).splitlines()
    except RuntimeError:
        uv = shutil.which("uv")
        if uv is None:
            raise
        return _run([uv, "pip", "freeze", "--python", sys.executable]).splitlines()


def constraints() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in constraint_files(os.environ):
        out.update(lockfile.pins(Path(path).read_text(encoding="utf-8", errors="replace")))
    return out


def with_hashes(kept: Sequence[str], options: Sequence[str]) -> list[str]:
    """The pins with the hash of every file PyPI (or the configured index) has for them."""
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("--hashes needs uv in the lab image (jlcompose's Dockerfile installs it)")
    with tempfile.TemporaryDirectory(prefix="jlcompose-lock-") as folder:
        source = Path(folder) / "pins.in"
        source.write_text("\n".join([*options, *kept]) + "\n", encoding="utf-8")
        text = _run(
            [
                uv,
                "pip",
                "compile",
                str(source),
                "--generate-hashes",
                "--no-deps",
                "--no-header",
                "--no-annotate",
                "--python",
                sys.executable,
                "--quiet",
            ]
        )
    return [line for line in text.splitlines() if line.strip() and not line.startswith(("-", "#"))]


def lock_text(requirements_text: str, *, hashes: bool) -> tuple[str, lockfile.Frozen]:
    frozen = lockfile.sort_freeze(freeze(), constraints())
    options = lockfile.index_options(requirements_text)
    hashed = with_hashes(frozen.kept, options) if hashes else []
    return lockfile.render(frozen, requirements_text, hashed=hashed), frozen


def write(requirements: Path) -> lockfile.Frozen | None:
    """Lock again beside `requirements` when a lock is there (it keeps its hashes, if it had them)."""
    lock = requirements.parent / lockfile.LOCK_NAME
    if not lock.is_file():
        return None
    old = lock.read_text(encoding="utf-8")
    text, frozen = lock_text(requirements.read_text(encoding="utf-8"), hashes="--hash=" in old)
    atomic_write(lock, text.encode())
    return frozen


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    hashes = "--hashes" in args
    options = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--option"]
    try:
        frozen = lockfile.sort_freeze(freeze(), constraints())
        hashed = with_hashes(frozen.kept, options) if hashes else []
    except (RuntimeError, OSError) as exc:
        print(f"{PREFIX}{json.dumps({'error': str(exc)})}", flush=True)
        return 1
    result = {
        "kept": list(frozen.kept),
        "pinned_by_image": frozen.pinned_by_image,
        "skipped": list(frozen.skipped),
        "hashed": hashed,
    }
    print(PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
