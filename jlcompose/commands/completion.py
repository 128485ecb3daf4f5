"""`jlcompose completion`: print the shell completion script for bash, zsh or fish."""

from __future__ import annotations

import argparse

from jlcompose import console
from jlcompose.commands import Context
from jlcompose.completion import INSTALL, SHELLS, script

HELP = "print the TAB-completion script for bash, zsh or fish"
DESCRIPTION = f"""\
Print a script that makes TAB complete jlcompose's commands, their options and this
project's service names. Install it once, then open a new shell:

  bash   {INSTALL["bash"]}
  zsh    {INSTALL["zsh"]}   (after compinit)
  fish   {INSTALL["fish"]}

Each TAB runs jlcompose once to ask (0.1-0.3 s); other commands pay nothing for it.

examples:
  jlcompose completion bash > /etc/bash_completion.d/jlcompose   for every user
  eval "$(jlcompose completion zsh)"                            in this shell only
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


def run(args: argparse.Namespace, ctx: Context) -> int:
    console.data(script(args.shell))
    return 0
