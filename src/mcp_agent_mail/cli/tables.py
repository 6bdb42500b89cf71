"""Shared rendering for the people's commands: consoles, tables, JSON output, times, input checks, progress.

Tables go to stdout through a Rich console whose width is the terminal's, or 120 columns when stdout is
not a terminal (pipes, tests), so output never depends on an unset ``COLUMNS``. JSON goes to stdout
alone (one document, nothing else), and progress and notices go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mcp_agent_mail.errors import InvalidArgumentError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

T = TypeVar("T")

PIPE_WIDTH = 120
MIN_WIDTH = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_BLOCK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def run(awaitable: Awaitable[T]) -> T:
    """Run one service call to completion on a fresh event loop."""

    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def console(*, stderr: bool = False) -> Console:
    """Return a Rich console for stdout (or stderr) with a sane width whether or not it is a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if tty and not os.environ.get("COLUMNS") else _width()
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _width() -> int:
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit():
        return max(MIN_WIDTH, int(raw))
    return PIPE_WIDTH


def table(title: str | None, *columns: str) -> Table:
    """Return a Rich table with the given column headers (long cells wrap instead of widening the table)."""
    from rich.table import Table

    grid = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    return grid


def print_table(grid: Table, empty: str) -> None:
    """Print a table, or the ``empty`` sentence when it has no rows."""
    if grid.row_count == 0:
        typer.echo(empty)
        return
    console().print(grid)


def emit_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout (keys in the order given)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def clean(value: Any) -> str:
    """Return text safe to echo to a terminal: control characters shown as ``?`` (``-`` for None)."""
    return "-" if value is None else _CONTROL.sub("?", str(value))


def clean_block(value: str) -> str:
    """Return multi-line text safe to print: line breaks and tabs kept, other control characters as ``?``."""
    return _CONTROL_IN_BLOCK.sub("?", value.replace("\r\n", "\n"))


def plain(value: Any) -> str:
    """Return text safe to put in a table cell: control characters shown as ``?`` and markup escaped."""
    from rich.markup import escape

    return escape(clean(value))


def when(value: str | None) -> str:
    """Return an ISO-8601 time as ``YYYY-MM-DD HH:MM`` UTC (``-`` when missing)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return plain(value)
    return moment.strftime("%Y-%m-%d %H:%M")


def age(seconds: int | float | None) -> str:
    """Return a duration as ``3d 4h``, ``2h 5m``, ``7m`` or ``40s``."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def check_line(value: str, field: str) -> str:
    """Return a one-line text argument, or raise INVALID_ARGUMENT for control characters or bytes that are not UTF-8."""
    from mcp_agent_mail.text_guard import check_text

    check_text(value, field)
    found = _CONTROL.search(value)
    if found:
        raise InvalidArgumentError(
            f"{field} contains a control character ({found.group()!r} at position {found.start()}).",
            hint=f"Write {field} on one line of printable text.",
        )
    return value


@contextmanager
def working(message: str) -> Iterator[None]:
    """Show a spinner with ``message`` on stderr while the block runs (only when stderr is a terminal)."""
    if not sys.stderr.isatty():
        yield
        return
    with console(stderr=True).status(message):
        yield


__all__ = [
    "age",
    "check_line",
    "clean",
    "clean_block",
    "console",
    "emit_json",
    "plain",
    "print_table",
    "run",
    "table",
    "when",
    "working",
]
