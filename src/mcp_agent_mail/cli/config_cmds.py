"""The settings in effect: ``config show``, secrets masked, each with where its value came from."""

from __future__ import annotations

from typing import Annotated

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.cli.tables import emit_json, plain, print_table, table

config_app = typer.Typer(name="config", help="The settings this installation runs with.", no_args_is_help=True)


@config_app.command("show")
@handle_errors
def show(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")
    ] = False,
    changed: Annotated[bool, typer.Option("--changed", help="Only settings not at their default.")] = False,
) -> None:
    """Show every setting with its value (secrets masked) and its source: env, a .env file or the default."""
    from mcp_agent_mail.services.settings_view import settings_report

    entries = [entry for entry in settings_report() if not changed or entry["source"] != "default"]
    if as_json:
        emit_json({"count": len(entries), "settings": entries})
        return
    grid = table("Settings", "Name", "Value", "Source")
    for entry in entries:
        value = entry["value"]
        shown = "(unset)" if value == "" else str(value).lower() if isinstance(value, bool) else str(value)
        grid.add_row(plain(entry["name"]), plain(shown), plain(entry["source"]))
    print_table(grid, "Every setting is at its default.")


def attach(app: typer.Typer) -> None:
    """Add the ``config`` command group to ``app``."""
    app.add_typer(config_app, name="config")


__all__ = ["attach", "config_app"]
