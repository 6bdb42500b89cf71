"""File reservations for people: ``reservations list | release``.

``release`` is the web UI's operator release: it ends a lease only when its holder looks gone (the
same staleness rules as an agent's force release), acts as the project's human overseer and mails the
holder why. A lease whose holder may still be working is refused and left as it was.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.cli.tables import check_line, clean, emit_json, plain, print_table, run, table, when, working

reservations_app = typer.Typer(
    name="reservations",
    help="File reservations (advisory leases on globs): list them, release a stale one.",
    no_args_is_help=True,
)

ProjectOption = Annotated[str, typer.Option("--project", "-p", help="The project: its absolute path or its slug.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")]


def _staleness(item: dict[str, Any]) -> str:
    if item["status"] != "active":
        return "-"
    if item.get("stale"):
        return "[yellow]stale[/yellow]: " + plain("; ".join(item.get("stale_reasons", [])))
    return "in use"


@reservations_app.command("list")
@handle_errors
def list_reservations(
    project: ProjectOption,
    show_all: Annotated[bool, typer.Option("--all", help="Also expired and released ones.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the project's reservations, oldest first: active ones with whether their holder looks stale."""
    from mcp_agent_mail.services.reservations.status import reservation_statuses

    with working("Checking reservation holders' activity…"):
        items = run(reservation_statuses(project, active_only=not show_all))
    if as_json:
        emit_json({"project": project, "all": show_all, "count": len(items), "reservations": items})
        return
    grid = table("Reservations" if show_all else "Active reservations", "ID", "Agent", "Pattern", "Excl.", "Status")
    grid.add_column("Expires")
    grid.add_column("Holder", overflow="fold")
    for item in items:
        grid.add_row(
            str(item["id"]),
            plain(item["agent"]),
            plain(item["path_pattern"]),
            "yes" if item["exclusive"] else "no",
            item["status"] if item["status"] != "released" else f"released {when(item.get('released_ts'))}",
            when(item["expires_ts"]),
            _staleness(item),
        )
    print_table(grid, "No reservations." if show_all else "No active reservations (--all shows past ones).")


@reservations_app.command("release")
@handle_errors
def release(
    reservation_id: Annotated[int, typer.Argument(help="The reservation id (from `reservations list`).")],
    project: ProjectOption,
    note: Annotated[str, typer.Option("--note", help="A line for the holder's notice: why it was released.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as one JSON object.")] = False,
) -> None:
    """Release a reservation whose holder looks gone, as the human overseer, and mail the holder why."""
    from mcp_agent_mail.cli.archive_sync import archive_note, refuse_unusable_storage, write_archive
    from mcp_agent_mail.services.operator_release import release_for_operator

    if note:
        check_line(note, "--note")
    refuse_unusable_storage()
    with working("Judging the holder's activity…"):
        result = run(release_for_operator(project, reservation_id, note))
    result["archive"] = write_archive()
    if as_json:
        emit_json(result)
        return
    judged = {key: clean(value) for key, value in result["assessment"].items()}
    if result.get("expired"):
        typer.echo(f"Reservation {reservation_id} on {judged['path_pattern']} had expired; it is now released.")
    elif result.get("already_released"):
        typer.echo(f"Reservation {reservation_id} on {judged['path_pattern']} was already released.")
        return
    else:
        typer.secho(
            f"Released reservation {reservation_id} on {judged['path_pattern']} held by {judged['agent']}.",
            fg=typer.colors.GREEN,
        )
        view = result.get("reservation") or {}
        if view.get("notified"):
            typer.echo(f"{judged['agent']} was mailed why.")
        elif view.get("notification_error"):
            typer.echo(f"{judged['agent']} could not be mailed: {view['notification_error'].get('message')}", err=True)
    typer.echo(archive_note(result["archive"]))


def attach(app: typer.Typer) -> None:
    """Add the ``reservations`` command group to ``app``."""
    app.add_typer(reservations_app, name="reservations")


__all__ = ["attach", "reservations_app"]
