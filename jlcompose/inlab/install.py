"""Installing requirements into the lab's own Python: uv when the image has it, else pip.

Runs inside the lab, as root (the install agent, or `docker exec -u 0` where no agent is
reachable): `python3 -m jlcompose.inlab.install REQUIREMENT...`. uv gets the image's pip
constraint file(s) (PIP_CONSTRAINT) and index settings explicitly, because uv reads neither
from pip's variables, so it can never replace NGC's own torch build. Its cache is a named
volume (compose/compose.yaml), so a reinstall after the container was recreated comes from it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from jlcompose.inlab.unpin import apply as unpin_in_place
from jlcompose.inlab.unpin import filtered_copy

UV_CACHE = "/var/cache/jlcompose/uv"
PIP_ENV = {
    "PIP_ROOT_USER_ACTION": "ignore",  # root on purpose: the lab user may not write site-packages
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
# pip's variables that have a uv counterpart: the image's index set-up applies to both
_PIP_TO_UV = {
    "PIP_INDEX_URL": "UV_INDEX_URL",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS": "UV_FIND_LINKS",
    "PIP_PRE": "UV_PRERELEASE",
}


def constraint_files(environ: Mapping[str, str]) -> list[str]:
    """PIP_CONSTRAINT as pip reads it: whitespace-separated paths (only existing files count)."""
    return [c for c in environ.get("PIP_CONSTRAINT", "").split() if os.path.isfile(c)]


def command(
    requirements: Sequence[str], environ: Mapping[str, str], *, uv: str | None
) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, installer name) for installing `requirements` as pip would."""
    env = {**environ, **PIP_ENV}
    if uv is None:
        return [sys.executable, "-m", "pip", "install", *requirements], env, "pip"
    constraints = [arg for c in constraint_files(environ) for arg in ("--constraint", c)]
    for pip_name, uv_name in _PIP_TO_UV.items():
        if environ.get(pip_name) and not environ.get(uv_name):
            env[uv_name] = "allow" if uv_name == "UV_PRERELEASE" else environ[pip_name]
    env.setdefault("UV_NO_PROGRESS", "1")
    env.setdefault("UV_LINK_MODE", "copy")
    if os.access(UV_CACHE, os.W_OK):
        env.setdefault("UV_CACHE_DIR", UV_CACHE)
    argv = [uv, "pip", "install", "--python", sys.executable, "--system", "--break-system-packages"]
    return [*argv, *constraints, *requirements], env, "uv"


def find_uv() -> str | None:
    return shutil.which("uv")


_NAMED = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:===|==|~=|!=|>=|<=|>|<)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_named(report: Sequence[str], files: Sequence[str]) -> list[str]:
    """The constraint-file pins of packages a failed resolution names, in pip's own words.

    uv reports `you require torch==2.3 and torch==2.9.0a0+...` without saying which side is
    the image's pin; pip says `The user requested (constraint) torch==...`. The same line for
    both keeps one explanation (core/pipfailure.py).
    """
    named = {_canonical(m.group(1)) for line in report for m in _NAMED.finditer(line)}
    out = []
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            pin = line.split("#", 1)[0].strip()
            m = _NAMED.match(pin)
            if m and _canonical(m.group(1)) in named:
                out.append(f"The user requested (constraint) {pin}")
    return out


def run(
    requirements: Sequence[str], on_line: Callable[[str], None], *, unpin: Sequence[str] = ()
) -> tuple[int, str]:
    """Install, each output line to on_line; (exit code, installer name).

    `unpin`: names whose pins in the image's constraint files do not apply to this install.
    """
    if not unpin:
        return _run(requirements, on_line, os.environ)
    with tempfile.TemporaryDirectory(prefix="jlcompose-unpin-") as folder:
        environ = {**os.environ, "PIP_CONSTRAINT": filtered_copy(unpin, folder)}
        return _run(requirements, on_line, environ)


def _run(
    requirements: Sequence[str], on_line: Callable[[str], None], environ: Mapping[str, str]
) -> tuple[int, str]:
    argv, env, installer = command(requirements, environ, uv=find_uv())
    report: list[str] = []
    with subprocess.Popen(  # noqa: S603 - validated PEP 508 requirements after fixed arguments
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            report.append(line)
            on_line(line)
    if proc.returncode != 0 and installer == "uv":
        for line in pins_named(report, constraint_files(environ)):
            on_line(line)
    return proc.returncode, installer


def install_and_unpin(
    requirements: Sequence[str], on_line: Callable[[str], None], unpin: Sequence[str]
) -> tuple[int, str]:
    """Install ignoring the `unpin` pins; once that worked, drop them from the image's files too."""
    rc, used = run(requirements, on_line, unpin=unpin)
    if rc == 0 and unpin:
        for pin in unpin_in_place(unpin):
            on_line(f"dropped {pin} from the image's pip constraints")
    return rc, used


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m jlcompose.inlab.install [--unpin NAME]... REQUIREMENT...` (`docker exec`, no agent).

    `--file requirements.txt`: what an image build runs (the file's options are the user's own).
    """
    from jlcompose.core.pkgargs import validate_argument
    from jlcompose.errors import RequirementError

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--file"] and len(args) == 2:  # an image build: the project's own file
        rc, _used = run(["-r", args[1]], lambda line: print(line, flush=True))
        return rc
    unpin: list[str] = []
    while args[:1] == ["--unpin"] and len(args) > 1:
        unpin.append(args[1])
        del args[:2]
    try:
        for arg in args:  # never options: the same check as on the host
            validate_argument(arg)
        for name in unpin:
            validate_argument(name)
    except RequirementError as exc:
        print(f"ERROR: {exc.message}", flush=True)
        return 2
    rc, _installer = install_and_unpin(args, lambda line: print(line, flush=True), unpin)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
