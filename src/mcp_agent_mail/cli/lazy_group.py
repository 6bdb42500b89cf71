"""The top-level command group: lists commands from a table and imports a command's module only when it runs.

``mcp-agent-mail --help`` shows each command's one-line help from the table
(:data:`mcp_agent_mail.cli.COMMANDS`) without importing anything; running a
command (or asking for its own ``--help``) imports its module and calls the
module's ``attach(app)``. A module that is not installed is left out of the
listing, and running its command says so with a coded error.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any, Protocol

import typer
from typer._click.core import Context
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

from mcp_agent_mail.cli import module_available

_PACKAGE = "mcp_agent_mail.cli"
_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}
_TYPER_OPTIONS: dict[str, Any] = {"add_completion": False, "pretty_exceptions_enable": False}


class Entry(Protocol):
    """What the group needs to know of a command before importing it."""

    @property
    def module(self) -> str:
        """Module under ``mcp_agent_mail.cli`` that registers the command."""
        ...

    @property
    def help(self) -> str:
        """The command's one-line help."""
        ...

    @property
    def hidden(self) -> bool:
        """Whether ``--help`` leaves the command out."""
        ...


def _unavailable(name: str, entry: Entry) -> TyperCommand:
    """Return a stand-in command that explains that ``name`` is not installed."""

    def explain() -> None:
        from mcp_agent_mail.cli import print_error
        from mcp_agent_mail.errors import UnavailableError

        print_error(
            UnavailableError(
                f"The {name!r} command is not part of this installation ({_PACKAGE}.{entry.module} is missing).",
                hint="Reinstall mcp-agent-mail, or run `mcp-agent-mail --help` for the commands there are.",
            )
        )
        raise typer.Exit(1)

    return TyperCommand(
        name,
        callback=explain,
        help=entry.help,
        hidden=True,
        context_settings=_PASS_THROUGH,
    )


class LazyGroup(TyperGroup):
    """A Typer group whose commands come from a table of modules, each imported on first use."""

    table: Mapping[str, Entry] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        self._loaded: set[str] = set()

    def _available(self) -> list[str]:
        names = [name for name in self.commands if name not in self.table]
        names += [name for name, entry in self.table.items() if module_available(entry.module)]
        return names

    def list_commands(self, ctx: Context) -> list[str]:
        """Return every command name whose module is installed, in the table's order."""
        return self._available()

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        """Return the command, importing its module unless only the listing is being drawn."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = self.table.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=entry.help, hidden=entry.hidden)
        if not module_available(entry.module):
            return _unavailable(cmd_name, entry)
        self._load(entry.module)
        return self.commands.get(cmd_name)

    def _load(self, module_name: str) -> None:
        if module_name in self._loaded:
            return
        module = importlib.import_module(f"{_PACKAGE}.{module_name}")
        holder = typer.Typer(**_TYPER_OPTIONS)
        module.attach(holder)
        for name, command in typer.main.get_group(holder).commands.items():
            self.commands.setdefault(name, command)
        self._loaded.add(module_name)

    def format_help(self, ctx: Context, formatter: Any) -> None:
        """Draw the help screen from the table, importing no command module."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        """Resolve the command, suggesting close names from the whole table when there is none."""
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as exc:
            visible = [name for name in self.list_commands(ctx) if not self._hidden(name)]
            matches = difflib.get_close_matches(args[0], visible) if args else []
            if matches:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise

    def _hidden(self, name: str) -> bool:
        entry = self.table.get(name)
        return entry.hidden if entry is not None else bool(getattr(self.commands.get(name), "hidden", False))


def build_app(table: Mapping[str, Entry], *, help_text: str) -> typer.Typer:
    """Return the ``mcp-agent-mail`` Typer application over ``table``."""
    group_class = type("MailCommands", (LazyGroup,), {"table": table})
    app = typer.Typer(
        name="mcp-agent-mail",
        help=help_text,
        cls=group_class,
        no_args_is_help=True,
        **_TYPER_OPTIONS,
    )

    @app.callback()
    def _root() -> None:
        pass

    return app


__all__ = ["LazyGroup", "build_app", "module_available"]
