"""Command line: ``mcp-agent-mail serve | stdio | mail | archive | doctor | ...``.

Each top-level command lives in a sibling module with an ``attach(app)`` function;
:data:`COMMANDS` maps the command's name to that module and its one-line help, so
``--help`` lists every command without importing any of them and a command imports
only its own module (see :mod:`mcp_agent_mail.cli.lazy_group`). ``mail status``
skips Typer altogether (:mod:`mcp_agent_mail.cli.mail_status`): hooks run it on
every prompt.

Tests and other code look up ``_archive_states_dir`` on this module at call time,
so it can be monkeypatched. Command functions report failures by raising
:class:`AgentMailError`; wrap them with :func:`handle_errors` (or call through
:func:`run_cli`) so the user sees one red ``CODE: message`` line and a hint on
stderr, and the process exits 1.

This module imports nothing heavy (no Typer, settings or database layer) until a
function that needs it runs; ``app`` (the Typer application) is built on first
access.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    import typer

    from mcp_agent_mail.errors import AgentMailError

    app: typer.Typer

T = TypeVar("T")

APP_HELP = "Mail server for AI coding agents: identities, threaded mail, search and file reservations."
"""What ``mcp-agent-mail --help`` says first."""


class CommandEntry(NamedTuple):
    """Where a top-level command lives and what ``--help`` says of it."""

    module: str
    """Module under ``mcp_agent_mail.cli`` whose ``attach(app)`` registers the command."""
    help: str
    """The command's one-line help, shown by ``mcp-agent-mail --help`` (the command's own first line)."""
    hidden: bool = False


COMMANDS: dict[str, CommandEntry] = {
    "serve": CommandEntry(
        "serve", "Serve MCP over Streamable HTTP (plus /health/liveness and /health/readiness) until SIGINT/SIGTERM."
    ),
    "stdio": CommandEntry("serve", "Serve MCP over stdin/stdout for one client; logs go to stderr only."),
    "serve-http": CommandEntry("serve", "Serve MCP over Streamable HTTP.", hidden=True),
    "serve-stdio": CommandEntry("serve", "Serve MCP over stdin/stdout.", hidden=True),
    "mail": CommandEntry(
        "mail_cmds",
        "Read and send mail from the terminal: inbox, one message, send as the human overseer, unread status.",
    ),
    "acks": CommandEntry(
        "acks_cmds", "Acknowledgements the project's agents still owe: all of them, or those overdue."
    ),
    "reservations": CommandEntry(
        "reservations_cmds", "File reservations (advisory leases on globs): list them, release a stale one."
    ),
    "projects": CommandEntry("listing_cmds", "The projects in the mailbox."),
    "agents": CommandEntry("listing_cmds", "The agents of a project."),
    "integrate": CommandEntry(
        "integrate_cmds",
        "Add this server to the MCP configuration of every coding agent installed here, keeping everything else.",
    ),
    "docs": CommandEntry("docs_cmds", "Keep the mail instructions in AGENTS.md / CLAUDE.md up to date."),
    "config": CommandEntry("config_cmds", "The settings this installation runs with."),
    "migrate": CommandEntry("serve", "Create or upgrade the database schema and print its version."),
    "version": CommandEntry("serve", "Print the installed version."),
    "tools": CommandEntry(
        "tools_cmds",
        "List the tools a server exposes, or (--stats) what their definitions cost a client in bytes and tokens.",
    ),
    "import-legacy": CommandEntry(
        "import_cmds", "Import a mailbox of the original project (all or nothing; the original is never changed)."
    ),
    "archive": CommandEntry(
        "archive_cmds", "Save, list and restore restore points of the whole mailbox (database + Git archive)."
    ),
    "doctor": CommandEntry(
        "doctor_cmds", "Check the mailbox (database, search index, Git archive, locks) and repair what is broken."
    ),
    "guard": CommandEntry(
        "guard_cmds", "Git hooks that refuse commits touching files other agents reserved exclusively."
    ),
}
"""Top-level command name -> where it lives, in the order ``--help`` lists them."""


def _archive_states_dir(create: bool = True) -> Path:
    """Return the data directory's folder of restore points (``archived_mailbox_states``, an older name)."""
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.errors import ConfigurationError
    from mcp_agent_mail.fsutil import directory_problem

    directory = get_settings().data_dir / "archived_mailbox_states"
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = directory_problem(directory) or f"cannot be created: {exc.strerror or exc}"
            raise ConfigurationError(
                f"The restore points' folder {directory} {problem}.",
                hint="Point MCP_AGENT_MAIL_HOME at a directory this user can write.",
            ) from exc
    return directory


def resolve_sqlite_database_path(database_url: str | None = None) -> Path:
    """Return the SQLite file of ``database_url`` (default: the configured database)."""
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.db import sqlite_path_from_url
    from mcp_agent_mail.errors import ConfigurationError

    url = database_url or get_settings().database.url
    path = sqlite_path_from_url(url)
    if path is None:
        raise ConfigurationError(
            "This command needs a SQLite database file.", hint="Point DATABASE_URL at a sqlite+aiosqlite:/// file."
        )
    return path


def print_error(exc: AgentMailError) -> None:
    """Print ``CODE: message`` in red and the hint below it, both on stderr."""
    import typer

    typer.secho(f"{exc.code}: {exc.message}", fg=typer.colors.RED, err=True)
    if exc.hint:
        typer.echo(f"Hint: {exc.hint}", err=True)


def run_cli(fn: Callable[[], T]) -> T:
    """Call ``fn``; on AgentMailError print it with :func:`print_error` and exit 1."""
    import typer

    from mcp_agent_mail.errors import AgentMailError

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


def module_available(module: str) -> bool:
    """Tell whether ``mcp_agent_mail.cli.<module>`` is installed, without importing it."""
    from importlib.util import find_spec

    return find_spec(f"{__name__}.{module}") is not None


def _refuse_unknown(name: str) -> int:
    """Say that ``name`` is no command (with the closest ones) the way Typer would, without loading it; return 2."""
    from difflib import get_close_matches

    visible = [n for n, entry in COMMANDS.items() if not entry.hidden and module_available(entry.module)]
    message = f"No such command {name!r}."
    close = get_close_matches(name, visible)
    if close:
        message = f"{message[:-1]}. Did you mean {', '.join(repr(n) for n in close)}?"
    print(
        f"Usage: mcp-agent-mail [OPTIONS] COMMAND [ARGS]...\nTry 'mcp-agent-mail --help' for help.\n\nError: {message}",
        file=sys.stderr,
    )
    return 2


def __getattr__(name: str) -> Any:
    """Build the Typer application (``app``) on first access."""
    if name == "app":
        from mcp_agent_mail.cli.lazy_group import build_app

        built = build_app(COMMANDS, help_text=APP_HELP)
        globals()["app"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mcp-agent-mail`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["mail", "status"]:
        # Hooks run this on every prompt: answer without loading Typer, settings or the database layer.
        from mcp_agent_mail.cli.mail_status import run

        raise SystemExit(run(args[2:]))
    if args and not args[0].startswith("-") and args[0] not in COMMANDS:
        raise SystemExit(_refuse_unknown(args[0]))
    application = globals().get("app") or __getattr__("app")
    application(args=args, prog_name="mcp-agent-mail")


__all__ = [
    "APP_HELP",
    "COMMANDS",
    "CommandEntry",
    "handle_errors",
    "main",
    "module_available",
    "print_error",
    "resolve_sqlite_database_path",
    "run_cli",
]
