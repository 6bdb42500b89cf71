"""Restore points (zips of the database and the Git archive): ``archive save | list | restore``.

The command group keeps the name ``archive`` for compatibility; what it saves,
lists and restores is called a restore point everywhere it is shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.config import get_settings

archive_app = typer.Typer(
    name="archive",
    help="Save, list and restore restore points of the whole mailbox (database + Git archive).",
    no_args_is_help=True,
)

_PROGRESS_THRESHOLD = 200


def _states_dir() -> Path:
    from mcp_agent_mail import cli as cli_module

    return Path(cli_module._archive_states_dir(create=True))


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _counts_text(counts: dict[str, Any] | None) -> str:
    if not counts:
        return "-"
    return ", ".join(
        f"{counts.get(k, 0)} {k.replace('_', ' ')}"
        for k in ("projects", "agents", "messages", "recipients", "file_reservations")
    )


@contextmanager
def _progress() -> Iterator[Any]:
    """Yield a progress callback that draws a bar on stderr once the work is large."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress: Progress | None = None
    task: Any = None

    def update(done: int, total: int) -> None:
        nonlocal progress, task
        if total < _PROGRESS_THRESHOLD:
            return
        if progress is None:
            progress = Progress(
                TextColumn("Saving"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True), transient=True
            )
            progress.start()
            task = progress.add_task("save", total=total)
        progress.update(task, completed=done)

    try:
        yield update
    finally:
        if progress is not None:
            progress.stop()


@archive_app.command("save")
@handle_errors
def save(
    label: Annotated[
        str | None, typer.Option("--label", "-l", help="Name for this restore point, e.g. pre-upgrade.")
    ] = None,
    projects: Annotated[
        list[str] | None,
        typer.Option(
            "--projects",
            "--project",
            "-p",
            help="Describe only these projects (slug or path) in the summary; repeatable. The restore point "
            "always holds the whole mailbox, because a restore replaces everything. Unknown projects are refused.",
        ),
    ] = None,
) -> None:
    """Save a restore point: a consistent snapshot of the database and the Git archive, unaltered."""
    from mcp_agent_mail.services.recovery.restore_points import save_restore_point
    from mcp_agent_mail.services.storage_root import check_storage_root

    settings = get_settings()
    check_storage_root(settings)
    with _progress() as progress:
        saved = save_restore_point(settings, _states_dir(), label=label, projects=projects, progress=progress)
    meta = saved.metadata
    name = f"restore point {meta['label']}" if meta.get("label") else "restore point"
    typer.secho(f"Saved {name} to {saved.path}", fg=typer.colors.GREEN)
    scope = ", ".join(p["slug"] for p in meta["projects"]) or "none"
    typer.echo(f"  Holds: {_counts_text(meta['counts'])}")
    typer.echo(f"  Projects: {scope}{' (filtered)' if meta.get('projects_filter') else ''}")
    typer.echo(f"  Files: {saved.file_count} | Size: {_human_size(saved.size_bytes)}")
    typer.echo(f"  Restore with: mcp-agent-mail archive restore {saved.path.name}")


@archive_app.command("list")
@handle_errors
def list_points(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List saved restore points, newest first."""
    from mcp_agent_mail.services.recovery.restore_points import list_restore_points

    directory = _states_dir()
    entries = list_restore_points(directory)
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        typer.echo(f"No restore points in {directory} yet. Create one with: mcp-agent-mail archive save")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Restore points in {directory}")
    for column in ("File", "Label", "Created (UTC)", "Size", "Holds"):
        table.add_column(column)
    for entry in entries:
        holds = f"[red]{entry['error']}[/red]" if "error" in entry else _counts_text(entry.get("counts"))
        table.add_row(
            entry["file"], entry.get("label", ""), entry["created_at"], _human_size(entry["size_bytes"]), holds
        )
    Console(width=160).print(table)


@archive_app.command("restore")
@handle_errors
def restore(
    restore_point: Annotated[
        str, typer.Argument(help="The restore point: a path, or a file name from `archive list`.")
    ],
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Verify and print the plan; change nothing.")] = False,
    ignore_running: Annotated[
        bool, typer.Option("--ignore-running", help="Restore even though a server is using the mailbox.")
    ] = False,
) -> None:
    """Replace the database and Git archive with a restore point (current data is kept as *.backup-*)."""
    from mcp_agent_mail.services.recovery import zipsafe
    from mcp_agent_mail.services.recovery.restore import execute_restore, plan_restore
    from mcp_agent_mail.services.recovery.restore_points import resolve_restore_point
    from mcp_agent_mail.services.recovery.server_registry import ensure_no_servers

    settings = get_settings()
    path = resolve_restore_point(_states_dir(), restore_point)
    verified = zipsafe.verify_restore_point(path)
    if not ignore_running:
        ensure_no_servers(settings)
    plan = plan_restore(settings, verified)
    meta = verified.metadata
    typer.echo(
        f"Restore point {path.name} ({meta.get('label') or 'no label'}, saved {meta.get('created_at', '?')}) "
        f"verified: {len(verified.files)} files, hashes match."
    )
    typer.echo(f"  Holds: {_counts_text(meta.get('counts'))}")
    for warning in plan.warnings:
        typer.secho(f"Note: {warning}", fg=typer.colors.YELLOW)
    typer.echo("Dry-run plan:" if dry_run else "Plan:")
    for line in plan.lines():
        typer.echo(f"  - {line}")
    if dry_run:
        typer.echo("Dry run: nothing was changed.")
        return
    if not force and not typer.confirm("Proceed with restore?", default=False):
        typer.echo("Restore cancelled; nothing was changed.")
        raise typer.Exit(1)
    result = execute_restore(settings, verified, plan, ignore_running=ignore_running, states_dir=_states_dir())
    if result.recovered:
        typer.secho(f"Note: {result.recovered}", fg=typer.colors.YELLOW)
    for folder in result.swept:
        typer.echo(f"Removed {folder}, left behind by a restore that was killed.")
    typer.secho(f"Restored {path.name}.", fg=typer.colors.GREEN)
    for note in result.notes:
        typer.secho(f"  Note: {note}", fg=typer.colors.YELLOW)
    typer.echo(f"  Database: {plan.database}")
    typer.echo(f"  Storage: {plan.storage_root} ({result.storage_files} files)")
    if result.previous_point is not None:
        typer.echo(f"  The previous mailbox was saved as restore point {result.previous_point}")
        typer.echo(f"  To undo: mcp-agent-mail archive restore {result.previous_point.name}")
        for backup in result.backups:
            typer.echo(f"  Previous storage root kept as {backup}")
    elif result.backups:
        typer.echo("  Previous data kept as:")
        for backup in result.backups:
            typer.echo(f"    {backup}")
        typer.echo(
            "  To undo: stop the servers, remove the restored database and storage root, "
            f"and rename the *{plan.backup_suffix}* entries back to their original names."
        )
    else:
        typer.echo("  There was no previous data to keep.")


def attach(app: typer.Typer) -> None:
    """Add the ``archive`` command group to ``app``."""
    app.add_typer(archive_app, name="archive")
