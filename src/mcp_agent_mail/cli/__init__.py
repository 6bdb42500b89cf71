"""Command line: ``mcp-agent-mail serve | stdio | archive | doctor | ...``.

Sub-commands live in sibling modules and are attached here. Tests and other
code look up ``_archive_states_dir`` on this module at call time, so it can be
monkeypatched.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import sqlite_path_from_url
from mcp_agent_mail.errors import ConfigurationError

app = typer.Typer(
    name="mcp-agent-mail",
    help="Mail server for AI coding agents: identities, threaded mail, search and file reservations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _archive_states_dir(create: bool = True) -> Path:
    """Return the directory holding saved restore points (in the per-user data directory)."""
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


def _attach_subcommands() -> None:
    import importlib

    for module_name in ("serve", "archive_cmds", "doctor_cmds"):
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
