"""The single place user-facing output goes through.

Status lines go to stderr so that stdout carries only data (a URL, JSON) and can be piped.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

# Console() resolves sys.stdout/sys.stderr at each write, so pytest's capsys sees the text.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def data(text: str) -> None:
    """Machine-readable output (URLs, JSON) on stdout, never wrapped or styled."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def step(text: str) -> None:
    err.print(f"[bold cyan]>[/] {escape(text)}")


def ok(text: str) -> None:
    err.print(f"[green]✓[/] {escape(text)}")


def info(text: str) -> None:
    err.print(escape(text))


def warn(text: str) -> None:
    err.print(f"[yellow]![/] {escape(text)}")


def error(text: str, *, hint: str | None = None, detail: str | None = None) -> None:
    if detail:
        err.print(f"[dim]{escape(detail.rstrip())}[/]")
    err.print(f"[bold red]error:[/] {escape(text)}")
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}")


def table(*args: Any, **kwargs: Any) -> Any:
    from rich.table import Table

    return Table(*args, **kwargs)
