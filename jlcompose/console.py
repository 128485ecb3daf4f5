"""The single place user-facing output goes through.

Status lines go to stderr so that stdout carries only data (a URL, JSON) and can be piped.
Plain lines are written directly (colour only on a terminal, never with NO_COLOR); rich is
imported only for tables, spinners and live views, because its import alone costs more than
a hot install's whole budget (docs/performance.md).
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_consoles: dict[str, Console] = {}

_STYLE = {"step": "1;36", "ok": "32", "warn": "33", "error": "1;31", "dim": "2"}


def _colour(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _paint(stream: IO[str], style: str, text: str) -> str:
    return f"\x1b[{_STYLE[style]}m{text}\x1b[0m" if _colour(stream) else text


def _line(stream: IO[str], text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def __getattr__(name: str) -> Console:
    """`console.out` / `console.err`: rich Consoles, made on first use."""
    if name not in ("out", "err"):
        raise AttributeError(f"module 'jlcompose.console' has no attribute {name!r}")
    if name not in _consoles:
        from rich.console import Console

        # Console() resolves sys.stdout/sys.stderr at each write, so pytest's capsys sees the text.
        _consoles[name] = Console(stderr=name == "err", highlight=False, soft_wrap=True)
    return _consoles[name]


def data(text: str) -> None:
    """Machine-readable output (URLs, JSON) on stdout, never wrapped or styled."""
    _line(sys.stdout, text)


def step(text: str) -> None:
    _line(sys.stderr, f"{_paint(sys.stderr, 'step', '>')} {text}")


def ok(text: str) -> None:
    _line(sys.stderr, f"{_paint(sys.stderr, 'ok', '✓')} {text}")


def info(text: str) -> None:
    _line(sys.stderr, text)


def dim(text: str) -> None:
    """A tool's own output passed through (pip, uv): dimmed on a terminal."""
    _line(sys.stderr, _paint(sys.stderr, "dim", text))


def warn(text: str) -> None:
    _line(sys.stderr, f"{_paint(sys.stderr, 'warn', '!')} {text}")


def error(text: str, *, hint: str | None = None, detail: str | None = None) -> None:
    if detail:
        _line(sys.stderr, _paint(sys.stderr, "dim", detail.rstrip()))
    _line(sys.stderr, f"{_paint(sys.stderr, 'error', 'error:')} {text}")
    if hint:
        _line(sys.stderr, f"{_paint(sys.stderr, 'dim', 'hint:')} {hint}")


def is_terminal() -> bool:
    """Whether status output goes to a terminal (live views, spinners)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def table(*args: Any, **kwargs: Any) -> Any:
    from rich.table import Table

    return Table(*args, **kwargs)
