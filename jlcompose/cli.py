"""Command-line entry point: argument parsing, dispatch and the exit-code table."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from jlcompose import __version__, console
from jlcompose.errors import ExitCode, JlcomposeError

# Each name is a module in jlcompose/commands/ that defines HELP, DESCRIPTION,
# add_arguments(parser) and run(args) -> int. The modules import only light things at
# the top, so `jlcompose --help` never pays for python-on-whales (see docs/performance.md).
COMMANDS: tuple[str, ...] = (
    "up",
    "down",
    "status",
    "url",
    "logs",
    "pipreq",
    "watch",
    "prune",
    "init",
    "doctor",
    "monitor",
    "bench",
)

EPILOG = """\
examples:
  jlcompose up torch            build if needed, start, print the lab URL
  jlcompose pipreq transformers install into the running lab and record it
  jlcompose status              what runs, GPU or CPU, image current or stale
  jlcompose down                stop the labs (your files stay)

Every command has its own --help. Exit codes: 0 ok, 1 failed check, 2 bad input,
3 Docker/Compose problem, 4 build failed, 5 lab did not start, 6 pip failed,
70 jlcompose bug, 130 interrupted.
"""


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"jlcompose.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jlcompose",
        description="A GPU JupyterLab for this project folder, on top of plain Docker Compose.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jlcompose {__version__}")
    parser.add_argument(
        "-C",
        "--project",
        metavar="DIR",
        help="project folder (default: the nearest folder upwards holding compose/compose.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the docker commands run")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = _load(name)
        except ModuleNotFoundError as exc:  # TEMPORARY while commands are being written
            if exc.name != f"jlcompose.commands.{name}":
                raise
            continue
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return int(ExitCode.USAGE)
    if args.verbose or os.environ.get("JLCOMPOSE_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return int(args._module.run(args))
    except JlcomposeError as exc:
        console.error(exc.message, hint=exc.hint, detail=exc.detail)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted; nothing was left half-done.")
        return int(ExitCode.INTERRUPTED)
    except Exception:  # a bug: show it all and say so
        console.err.print_exception()
        console.error(
            f"this is a jlcompose {__version__} bug; please report it with the traceback above."
        )
        return int(ExitCode.BUG)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
