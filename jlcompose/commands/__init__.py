"""One module per command: HELP, DESCRIPTION, add_arguments(parser) and run(args, ctx) -> int.

A command wires argparse to one call into lab/ or gpu/; no command imports another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: a command that needs no engine never loads it
    from jlcompose.engine.api import Engine
    from jlcompose.project import Project


def _open_engine() -> Engine:
    from jlcompose.engine import open_engine

    return open_engine()


@dataclass
class Context:
    """What every command gets besides its own arguments: the global options, and the engine.

    One engine per command: `engine()` makes it on first use and hands out the same one after.
    Tests pass a fake as `open_engine`.
    """

    project_dir: str | None = None
    verbose: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    open_engine: Callable[[], Engine] = _open_engine
    _engine: Engine | None = None

    def project(self) -> Project:
        from jlcompose.project import open_project

        return open_project(self.project_dir, self.environ)

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.open_engine()
            from jlcompose.lab.remote import announce  # one line naming a remote engine's host

            announce(self._engine.endpoint())
        return self._engine
