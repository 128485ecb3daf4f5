"""Shell completion for bash, zsh and fish, by argcomplete.

`jlcompose completion SHELL` prints a script that, at each TAB, runs `jlcompose` with
argcomplete's variables set; `cli.main` sees `_ARGCOMPLETE` before anything else and answers
from the same argparse parser the command line is read with, so commands, options (global
ones after the command too) and choices are never out of date, and service names come from
the project itself (`-C DIR` on the line is honoured).

A normal start pays one dict lookup for this: neither this module nor argcomplete is imported
unless a shell asks.
One TAB costs a Python start plus the module of the command typed (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

SHELLS = ("bash", "zsh", "fish")
# the documented one-liners (README, `jlcompose completion --help`); a test runs each shell
INSTALL = {
    "bash": """echo 'eval "$(jlcompose completion bash)"' >> ~/.bashrc""",
    "zsh": """echo 'eval "$(jlcompose completion zsh)"' >> ~/.zshrc""",
    "fish": "mkdir -p ~/.config/fish/completions && "
    "jlcompose completion fish > ~/.config/fish/completions/jlcompose.fish",
}


def script(shell: str) -> str:
    from argcomplete.shell_integration import shellcode

    return shellcode(["jlcompose"], True, shell)  # (executables, use_defaults, shell)


def typed_words(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The words before the cursor, after `jlcompose` itself (to load only that command)."""
    line = environ.get("COMP_LINE", "")
    line = line[: int(environ.get("COMP_POINT", len(line)))]
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: the word being typed
        words = line.split()
    return words[1:]


def service_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The project's services (of `-C DIR` when typed): no Docker call, quiet on any error."""
    from jlcompose.errors import JlcomposeError
    from jlcompose.project import open_project

    try:
        project = open_project(getattr(parsed_args, "project", None))
    except (JlcomposeError, OSError):
        return []
    return [name for name in project.services if name.startswith(prefix)]


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:  # argparse has no public walk; argcomplete reads the same
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def complete(parser: argparse.ArgumentParser) -> None:
    """Print the completions the shell asked for, then exit (argcomplete's way)."""
    import argcomplete
    from argcomplete.completers import DirectoriesCompleter, SuppressCompleter

    for action in _actions(parser):
        if "-C" in action.option_strings:
            action.completer = DirectoriesCompleter()  # type: ignore[attr-defined]  # argcomplete's hook
        elif action.metavar == "SERVICE" or action.dest == "service":
            action.completer = service_names  # type: ignore[attr-defined]
        elif action.metavar == "PKG":
            action.completer = SuppressCompleter()  # type: ignore[attr-defined]  # not files
    # options are offered once a `-` is typed: `up <TAB>` lists the services alone
    argcomplete.autocomplete(parser, always_complete_options=False)
