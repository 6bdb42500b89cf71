"""Command line: ``mcp-agent-mail serve | stdio | archive | doctor | ...``.

Sub-commands live in sibling modules and are attached here. Tests and other
code look up ``_archive_states_dir`` on this module at call time, so it can be
monkeypatched.

Command functions report failures by raising :class:`AgentMailError`; wrap them
with :func:`handle_errors` (or call through :func:`run_cli`) so the user sees one
red ``CODE: message`` line and a hint on stderr, and the process exits 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import sqlite_path_from_url
from mcp_agent_mail.errors import AgentMailError, ConfigurationError

T = TypeVar("T")

app = typer.Typer(
    name="mcp-agent-mail",
    help="Mail server for AI coding agents: identities, threaded mail, search and file reservations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _archive_states_dir(create: bool = True) -> Path:
    """Return the data directory's folder of restore points (``archived_mailbox_states``, an older name)."""
    directory = get_settings().data_dir / "archived_mailbox_states"
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def resolve_sqlite_database_path(database_url: str | None = None) -> Path:
    """Return the SQLite file of ``database_url`` (default: the configured database)."""
    url = database_url or get_settings().database.url
    path = sqlite_path_from_url(url)
    if path is None:
        raise ConfigurationError(
            "This command needs a SQLite database file.", hint="Point DATABASE_URL at a sqlite+aiosqlite:/// file."
        )
    return path


def print_error(exc: AgentMailError) -> None:
    """Print ``CODE: message`` in red and the hint below it, both on stderr."""
    typer.secho(f"{exc.code}: {exc.message}", fg=typer.colors.RED, err=True)
    if exc.hint:
        typer.echo(f"Hint: {exc.hint}", err=True)


def run_cli(fn: Callable[[], T]) -> T:
    """Call ``fn``; on AgentMailError print it with :func:`print_error` and exit 1."""
    try:
        return fn()
    except AgentMailError as exc:
        print_error(exc)
        raise typer.Exit(1) from exc


def handle_errors(command: Callable[..., T]) -> Callable[..., T]:
    """Decorate a Typer command so an AgentMailError becomes a red ``CODE: message`` line and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_cli(lambda: command(*args, **kwargs))

    return wrapper


def _attach_subcommands() -> None:
    import importlib

    for module_name in (
        "serve",
        "archive_cmds",
        "doctor_cmds",
        "tools_cmds",
        "guard_cmds",
        "import_cmds",
        "integrate_cmds",
    ):
        try:
            module = importlib.import_module(f"mcp_agent_mail.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mcp_agent_mail.cli.{module_name}":
                continue
            raise
        module.attach(app)


_attach_subcommands()


def main() -> None:
    """Entry point of the ``mcp-agent-mail`` console script."""
    app()
