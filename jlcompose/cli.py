"""Command-line entry point: argument parsing, dispatch and the exit-code table."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import jlcompose
from jlcompose.errors import ExitCode, JlcomposeError

if TYPE_CHECKING:
    from jlcompose.engine.api import Engine

# Each name is a module in jlcompose/commands/ that defines HELP, DESCRIPTION,
# add_arguments(parser) and run(args, ctx) -> int. Only the module of the command being run is
# imported, so `jlcompose --help` and `--version` stay fast (docs/performance.md); the one-line
# help for the command list lives here (a test keeps it equal to each module's HELP).
COMMANDS: dict[str, str] = {
    "up": "build the lab image if what shapes it changed, start the lab, print its URL",
    "down": "stop the labs (your files, images and the token stay)",
    "status": "show each lab: state, GPU or CPU, image current or stale, URL",
    "url": "print the running lab's URL (with the token)",
    "logs": "show a lab's log (-f to follow)",
    "pipreq": "install packages into the running lab and add them to its requirements.txt",
    "watch": "hot-install packages into the running lab whenever a requirements file changes",
    "lock": "write docker_files/SERVICE/requirements.lock from what the running lab has installed",
    "sync": "on a remote engine: sync the project folder with the lab's workspace volume now",
    "prune": "remove lab images of hashes that are no longer current",
    "init": "write compose/, docker_files/ and .env.example into a project folder",
    "doctor": "check Docker, Compose, GPUs, driver, disk, ports and file watching",
    "monitor": "live GPU utilization (SM busy, memory) with a summary and hints",
    "bench": "PyTorch vs TensorFlow: copies, matmul, LSTM and conv steps, GPU utilization",
    "completion": "print the TAB-completion script for bash, zsh or fish",
}

EPILOG = """\
examples:
  jlcompose up torch            build if needed, start, print the lab URL
  jlcompose pipreq transformers install into the running lab and record it
  jlcompose status              what runs, GPU or CPU, image current or stale
  jlcompose down                stop the labs (your files stay)
  jlcompose status -C ~/model   another project folder: -C and -v go before or after the command
  jlcompose url --json          for scripts: JSON on stdout (status, url, pipreq, prune, doctor,
                                monitor, bench), and an error as {"error": {...}} there too

Every command has its own --help with examples; TAB completion: jlcompose completion --help.
.env is Compose's (ports, base images); jlcompose reads it as Compose does.
Exit codes: 0 ok, 1 failed check, 2 bad input, 3 Docker/Compose problem, 4 build failed,
5 lab did not start, 6 pip failed, 70 jlcompose bug, 130 interrupted.
"""


class _Version(argparse.Action):
    """--version, with the version looked up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        sys.stdout.write(f"jlcompose {jlcompose.__version__}\n")
        parser.exit()


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"jlcompose.commands.{name}")


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named in argv (skipping the value of -C/--project), if any."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-C", "--project"):
            skip = True
        elif arg in COMMANDS:
            return arg
        elif not arg.startswith("-"):
            return None
    return None


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    # after the command the same options are accepted too (`jlcompose status -C DIR`); there
    # they default to SUPPRESS, so they never overwrite what was given before the command
    default: dict[str, object] = {"default": argparse.SUPPRESS} if after_command else {}
    parser.add_argument(
        "-C",
        "--project",
        metavar="DIR",
        help="project folder (default: the nearest folder upwards holding compose/compose.yaml)",
        **default,  # type: ignore[arg-type]  # argparse's overloads do not cover **kwargs
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every docker and compose command line run",
        **default,  # type: ignore[arg-type]  # as above
    )


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jlcompose",
        description="A GPU JupyterLab for this project folder, on top of plain Docker Compose.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show jlcompose's version and exit")
    _global_options(parser, after_command=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen(argv)
    for name, help_text in COMMANDS.items():
        if name != chosen:
            sub.add_parser(name, help=help_text)
            continue
        module = _load(name)
        p = sub.add_parser(
            name,
            help=help_text,
            description=getattr(module, "DESCRIPTION", help_text),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        _global_options(p, after_command=True)
        p.set_defaults(_module=module)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """argv -> options; pipreq takes words that look like options as packages, so it can say why not."""
    if _chosen(argv) != "pipreq":
        return parser.parse_args(argv)
    args, extra = parser.parse_known_args(argv)
    args.packages = [*extra, *args.packages]
    return args


def _verbose() -> None:
    import logging  # only for -v: its import costs what a fast command has to spend

    class CommandLines(logging.Formatter):
        """Each docker/compose command as `$ argv`, everything else as `jlcompose: text`."""

        def format(self, record: logging.LogRecord) -> str:
            text = record.getMessage()
            if text.startswith("Running command: "):  # python-on-whales' wording, and the engine's
                return "$ " + text.removeprefix("Running command: ")
            return f"jlcompose: {text}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CommandLines())
    for name in ("jlcompose", "python_on_whales"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)


def main(argv: Sequence[str] | None = None, *, open_engine: Callable[[], Engine] | None = None) -> int:
    """The `jlcompose` command. `open_engine` replaces the Docker engine (command tests)."""
    from jlcompose.commands import Context

    if "_ARGCOMPLETE" in os.environ:  # a TAB, in a shell that sourced `jlcompose completion SHELL`
        from jlcompose import completion

        completion.complete(build_parser(completion.typed_words()))  # prints them and exits
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return int(ExitCode.USAGE)
    if args.verbose or os.environ.get("JLCOMPOSE_DEBUG"):
        _verbose()
    ctx = Context(project_dir=args.project, verbose=args.verbose)
    if open_engine is not None:
        ctx.open_engine = open_engine
    from jlcompose import console  # rich: imported only when a command really runs

    try:
        return int(args._module.run(args, ctx))
    except JlcomposeError as exc:
        if getattr(args, "json", False):  # scripts reading stdout get an object, never nothing
            import json

            console.data(json.dumps(exc.to_json()))
        console.error(exc.message, hint=exc.hint, detail=exc.detail)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted; nothing was left half-done.")
        return int(ExitCode.INTERRUPTED)
    except Exception:  # a bug: show it all and say so
        console.err.print_exception()
        console.error(
            f"this is a jlcompose {jlcompose.__version__} bug; please report it with the traceback above."
        )
        return int(ExitCode.BUG)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
