"""``docs insert-blurbs``: tell the agents of a repository, in AGENTS.md / CLAUDE.md, how to use their mail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.services.agent_docs import insert_blurbs

docs_app = typer.Typer(
    name="docs",
    help="Keep the mail instructions in AGENTS.md / CLAUDE.md up to date.",
    no_args_is_help=True,
)
_DRY = {"created": "would create", "added": "would add to", "updated": "would update"}
_DONE = {"created": "created", "added": "added to", "updated": "updated"}


@docs_app.command("insert-blurbs")
@handle_errors
def insert_blurbs_command(
    directories: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[DIR]...", help="Repository folders (default: the current directory)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff of each file and write nothing.")] = False,
) -> None:
    """Add (or update in place) a short section on using agent mail to AGENTS.md, CLAUDE.md and GEMINI.md."""
    changes = insert_blurbs(list(directories or [Path.cwd()]), dry_run=dry_run)
    for change in changes:
        if change.status == "skipped":
            typer.echo(f"skipped: {change.path} ({change.reason})")
        elif change.status == "unchanged":
            typer.echo(f"up to date: {change.path}")
        else:
            verb = (_DRY if dry_run else _DONE)[change.status]
            typer.secho(f"{verb}: {change.path}", fg=typer.colors.GREEN)
            if dry_run:
                typer.echo(change.diff, nl=False)
    if dry_run:
        typer.echo("Dry run: nothing was written.")


def attach(app: typer.Typer) -> None:
    """Add the ``docs`` command group to ``app``."""
    app.add_typer(docs_app, name="docs")
