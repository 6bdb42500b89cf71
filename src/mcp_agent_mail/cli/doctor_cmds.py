"""Diagnose and repair a mailbox: ``doctor check | repair | rebuild-db --from-archive``.

Exit codes: ``check`` exits 0 when no finding is an error (warnings allowed) and
1 when any is; ``repair`` exits 1 when a step failed or the final check still
finds an error; ``rebuild-db`` exits 0 on success and 1 on any refusal or failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.wording import agrees, counted

doctor_app = typer.Typer(
    name="doctor",
    help="Check the mailbox (database, search index, Git archive, locks) and repair what is broken.",
    no_args_is_help=True,
)

_COLORS = {"ok": typer.colors.GREEN, "warning": typer.colors.YELLOW, "error": typer.colors.RED}
_LABELS = {"ok": " OK  ", "warning": "WARN ", "error": "ERROR"}


def _states_dir() -> Path:
    from mcp_agent_mail import cli as cli_module

    return Path(cli_module._archive_states_dir(create=True))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _print_report(report: Any, *, verbose: bool = True) -> None:
    for finding in report.findings:
        label = _LABELS.get(finding.status, finding.status.upper())
        typer.secho(f"[{label}] {finding.name}: {finding.message}", fg=_COLORS.get(finding.status))
        if verbose and finding.status != "ok":
            for key, value in finding.details.items():
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                typer.echo(f"          {key}: {shown}")
            if finding.repairable:
                typer.echo("          repairable: run `mcp-agent-mail doctor repair`")
    summary = report.summary()
    typer.echo(
        f"Summary: {summary['ok']} ok, {counted(summary['warning'], 'warning')}, {counted(summary['error'], 'error')}."
    )


@doctor_app.command("check")
@handle_errors
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print {findings, summary} as JSON.")] = False,
) -> None:
    """Check the mailbox without changing anything; exit 1 when any check finds an error."""
    from mcp_agent_mail.services.doctor.checks import run_checks

    report = run_checks(get_settings())
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        _print_report(report)
    raise typer.Exit(1 if report.has_errors else 0)


@doctor_app.command("repair")
@handle_errors
def repair(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be repaired; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Repair what `doctor check` finds, after saving a pre-repair restore point."""
    from mcp_agent_mail.services.doctor.repair import execute_repair, plan_repair
    from mcp_agent_mail.services.storage_root import check_storage_root

    settings = get_settings()
    check_storage_root(settings)  # every repair starts with a restore point holding the archive
    report, actions = plan_repair(settings)
    if not actions:
        _print_report(report, verbose=True)
        typer.echo("Nothing to repair." if not report.has_errors else "Nothing here can be repaired automatically.")
        raise typer.Exit(1 if report.has_errors else 0)
    typer.echo("Would repair:" if dry_run else "Repairs:")
    for action in actions:
        typer.echo(f"  - {action.check}: {action.description}")
    if dry_run:
        typer.echo("Dry run: nothing was changed.")
        return
    if not yes and not typer.confirm("Save a pre-repair restore point and repair?", default=True):
        typer.echo("Repair cancelled; nothing was changed.")
        raise typer.Exit(1)
    outcome = execute_repair(settings, _states_dir(), report, actions)
    if outcome.restore_point is not None:
        typer.echo(
            f"Saved restore point {outcome.restore_point} (undo with: mcp-agent-mail archive restore "
            f"{outcome.restore_point.name})"
        )
    for action in outcome.actions:
        if action.error:
            typer.secho(f"  FAILED {action.check}: {action.error}", fg=typer.colors.RED)
        else:
            typer.secho(f"  fixed {action.check}: {action.result}", fg=typer.colors.GREEN)
    if outcome.after is not None:
        typer.echo("Check after repair:")
        _print_report(outcome.after)
    raise typer.Exit(1 if outcome.failed else 0)


@doctor_app.command("rebuild-db")
@handle_errors
def rebuild_db(
    from_archive: Annotated[
        bool, typer.Option("--from-archive", help="Rebuild the database from the Git archive at STORAGE_ROOT.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that holds data (it is moved to <db>.backup-<time>).")
    ] = False,
    ignore_running: Annotated[
        bool, typer.Option("--ignore-running", help="Rebuild even though a server is using the mailbox.")
    ] = False,
) -> None:
    """Recreate projects, agents, messages, recipients and reservations from the Git archive."""
    from mcp_agent_mail.services.recovery.rebuild import rebuild_database

    if not from_archive:
        raise InvalidArgumentError(
            "Say where to rebuild from.", hint="Run `mcp-agent-mail doctor rebuild-db --from-archive`."
        )
    result = rebuild_database(get_settings(), force=force, ignore_running=ignore_running)
    counts = result.counts
    typer.secho(f"Rebuilt {result.database} from the archive.", fg=typer.colors.GREEN)
    typer.echo(
        f"  Recovered: {_plural(counts['projects'], 'project')}, {_plural(counts['agents'], 'agent')}, "
        f"{_plural(counts['messages'], 'message')}, {_plural(counts['recipients'], 'recipient')}, "
        f"{_plural(counts['file_reservations'], 'file reservation')}. "
        f"Also {_plural(counts.get('agent_links', 0), 'contact link')} and "
        f"{_plural(counts.get('attachment_blobs', 0), 'attachment blob')}."
    )
    for backup in result.backups:
        typer.echo(f"  Previous database kept as {backup}")
    if result.from_history:
        typer.echo(
            f"  {counted(result.from_history, 'file')} missing from the work tree "
            f"{agrees(result.from_history, 'was', 'were')} read from the last commit."
        )
    if result.recipients_without_state:
        typer.echo(f"  {result.recipients_without_state} recipient(s) had no inbox copy: read/ack state unknown.")
    verification = result.verification
    if verification.get("identical"):
        typer.echo(
            f"  Verified: re-rendering gives the archive's {verification['files_compared']} files back byte for byte."
        )
    else:
        typer.secho(f"  Re-rendering differs from the archive: {json.dumps(verification)}", fg=typer.colors.YELLOW)
        typer.echo("  Run `mcp-agent-mail doctor repair` to bring the archive in line.")
    for warning in result.warnings[:20]:
        typer.secho(f"  Skipped {warning}", fg=typer.colors.YELLOW)
    if len(result.warnings) > 20:
        typer.secho(f"  ... and {counted(len(result.warnings) - 20, 'more skipped file')}.", fg=typer.colors.YELLOW)
    if counts["agents"]:
        typer.secho(
            "  Registration tokens are not kept in the archive: every agent must re-register "
            "(register_agent) to get a new token.",
            fg=typer.colors.YELLOW,
        )
    typer.echo("  Contact links between agents are not in the archive and were not recovered.")


def attach(app: typer.Typer) -> None:
    """Add the ``doctor`` command group to ``app``."""
    app.add_typer(doctor_app, name="doctor")
