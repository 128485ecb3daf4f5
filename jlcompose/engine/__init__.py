"""The Docker/Compose boundary: the Engine Protocol (api.py) and its python-on-whales implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not at run time: the hot install reads engine/contexts.py and nothing more
    from jlcompose.engine.api import Engine


def open_engine() -> Engine:
    """The real engine; commands get it through their Context, tests pass a fake instead."""
    from jlcompose.engine.pow import PowEngine

    return PowEngine()
