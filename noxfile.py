"""The unit and command tiers on every Python from 3.10 to 3.13 that this machine has.

    nox                                  all of them (scripts/test runs this)
    nox -s tests-3.10                    one interpreter
    nox -s tests-3.12 -- -k pipreq       extra arguments go to pytest

An interpreter the machine lacks is skipped, and nox says so ("Session tests-3.10 skipped:
Python interpreter 3.10 not found"). pyenv's shims answer only for the versions pyenv has
selected, so the versions pyenv has installed are added to PYENV_VERSION here first.
Each session installs jlcompose with `.[unit]` into its own venv (.nox/), so each Python
gets the dependencies that resolve there: tomli and watchdog 6 on 3.10, watchdog 7 on 3.11+.

What the sessions leave to scripts/test's main run: the engine tier (tests/integration, a
real Docker, on one Python), and the tests that need PyTorch (tests/unit/test_bench.py,
test_startup.py's real-torch test), which skip here (importorskip): a CPU PyTorch per
interpreter would cost minutes and gigabytes for code that runs the same on each.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _pyenv_versions(root: Path) -> list[str]:
    """The newest installed pyenv version of each of PYTHONS, e.g. ["3.10.13", "3.12.1"]."""
    found: dict[str, tuple[int, str]] = {}
    for folder in (root / "versions").glob("3.*"):
        m = re.fullmatch(r"(3\.\d+)\.(\d+)", folder.name)
        if m and m[1] in PYTHONS and (folder / "bin" / f"python{m[1]}").is_file():
            found[m[1]] = max(found.get(m[1], (-1, "")), (int(m[2]), folder.name))
    return [name for _, name in sorted(found.values())]


_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
if (_root / "shims").is_dir() and (_extra := _pyenv_versions(_root)):
    _active = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    os.environ["PYENV_ROOT"] = str(_root)
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*_active, *_extra]))

nox.options.sessions = ["tests"]
nox.options.download_python = "never"  # the interpreters this machine has, no others
nox.options.error_on_missing_interpreters = False  # CI=true would make a missing one an error
nox.options.reuse_venv = "yes"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[unit]", "--disable-pip-version-check", "-q")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/unit",
        "tests/commands",
        "-m",
        "not docker",
        "-q",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )
