"""``mcp-agent-mail import-legacy``: bring a mailbox of the original project into this one.

Exit codes: 0 when the import (or the dry run) went through, even with skipped rows,
which are listed; 1 on a refusal (a mailbox that holds mail without ``--merge``, a
source that is not the original's) or any other error, and then nothing was changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.wording import counted

_LABELS = {
    "projects": "projects",
    "agents": "agents",
    "messages": "messages",
    "recipients": "deliveries (to/cc/bcc, read and ack times)",
    "file_reservations": "file reservations",
    "contacts": "contacts",
    "window_identities": "window identities",
    "summaries": "stored summaries",
    "attachments": "attachment files",
}


def _print_report(data: dict[str, Any], database: Path) -> None:
    dry = data["dry_run"]
    typer.secho(
        f"{'Dry run: would import' if dry else 'Imported'} from {database}:", fg=None if dry else typer.colors.GREEN
    )
    for kind, count in data["imported"].items():
        typer.echo(f"  {count:>7}  {_LABELS.get(kind, kind)}")
    skipped = data["skipped"]
    if skipped:
        total = sum(item["count"] for item in skipped)
        typer.secho(f"Skipped {counted(total, 'row')} that cannot be imported:", fg=typer.colors.YELLOW)
        for item in skipped:
            examples = "; ".join(item["examples"])
            typer.echo(f"  {item['count']:>7}  {item['kind']}: {item['reason']} (e.g. {examples})")
    for item in data["not_carried"]:
        typer.echo(f"Not carried: {item['table']} ({counted(item['rows'], 'row')}): {item['reason']}.")
    for kind, count in data["merged_into_existing"].items():
        typer.echo(f"Merged into what this mailbox already holds: {count} {kind}.")
    for kind, count in data["renumbered"].items():
        typer.echo(f"Renumbered (id already taken here): {count} {kind}.")
    for what, count in data["adjusted"].items():
        typer.echo(f"Adjusted: {count} x {what}.")
    agents = data["agents_to_register"]
    if agents:
        typer.secho(
            "Registration tokens are not carried: every imported agent must re-register "
            "(register_agent with its name) to get a new token:",
            fg=typer.colors.YELLOW,
        )
        for project, names in agents.items():
            typer.echo(f"  {project}: {', '.join(names)}")
    for note in data["notes"]:
        typer.echo(f"Note: {note}")
    if dry:
        typer.echo(f"Archive: {data['archive_rows']} change(s) would be written.")
        typer.echo("Dry run: nothing was changed.")
    else:
        typer.echo(f"Archive: {data['archive_rows']} change(s) written. Check with `mcp-agent-mail doctor check`.")


@handle_errors
def import_legacy(
    database: Annotated[
        Path, typer.Option("--database", help="The original's database file (storage.sqlite3); opened read-only.")
    ],
    storage: Annotated[
        Path, typer.Option("--storage", help="The original's archive folder (its STORAGE_ROOT); only read.")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be imported; change nothing.")] = False,
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Import into a mailbox that already holds mail (ids taken here are renumbered)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import a mailbox of the original project (all or nothing; the original is never changed)."""
    from mcp_agent_mail.services.legacy_import import import_legacy as run_import

    report = run_import(get_settings(), database, storage, dry_run=dry_run, merge=merge)
    data = report.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_report(data, database)


def attach(app: typer.Typer) -> None:
    """Add the ``import-legacy`` command to ``app``."""
    app.command("import-legacy")(import_legacy)
