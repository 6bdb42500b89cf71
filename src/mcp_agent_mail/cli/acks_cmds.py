"""Acknowledgements still owed: ``acks pending | overdue``, for the whole project or one agent. Reads only."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.cli.tables import age, emit_json, plain, print_table, run, table, when

acks_app = typer.Typer(
    name="acks",
    help="Acknowledgements the project's agents still owe: all of them, or those overdue.",
    no_args_is_help=True,
)

OVERDUE_EXIT = 3
MAX_ITEMS = 1000
PAGE_SIZE = 200

ProjectOption = Annotated[str, typer.Option("--project", "-p", help="The project: its absolute path or its slug.")]
AgentOption = Annotated[
    str | None, typer.Option("--agent", "-a", help="Only acknowledgements this agent owes (default: every agent).")
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_ITEMS, help="List at most N.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")]


def _from_agent_view(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Shape an agent's view (its received messages) like the project board's items."""
    return [
        {
            "message_id": entry["id"],
            "subject": entry["subject"],
            "importance": entry["importance"],
            "thread_id": entry.get("thread_id"),
            "created_ts": entry["created_ts"],
            "age_seconds": entry.get("age_seconds"),
            "from": entry["from"],
            "recipient": view["agent"],
            "kind": entry.get("kind"),
            "read_ts": entry.get("read_ts"),
        }
        for entry in view["messages"]
    ]


def _project_items(project: str, state: str, ttl_minutes: int | None, limit: int) -> dict[str, Any]:
    """Page through the project's board until ``limit`` items; return them, the project and the total waiting."""
    from mcp_agent_mail.services.mail.ack_board import waiting_acks

    items: list[dict[str, Any]] = []
    page = 1
    while True:
        board = run(waiting_acks(project, state=state, ttl_minutes=ttl_minutes, page=page, page_size=PAGE_SIZE))
        items += board.items
        if not board.has_next or len(items) >= limit:
            break
        page += 1
    return {
        "project": board.project["human_key"],
        "agent": None,
        "state": state,
        "total": board.total,
        "items": items[:limit],
    }


def _collect(project: str, agent: str | None, state: str, ttl_minutes: int | None, limit: int) -> dict[str, Any]:
    from mcp_agent_mail.services.mail import views

    if agent is None:
        return _project_items(project, state, ttl_minutes, limit)
    if state == "overdue":
        view = run(views.ack_overdue(project, agent, ttl_minutes=ttl_minutes or 60, limit=limit))
    else:
        view = run(views.ack_required(project, agent, limit=limit))
    items = _from_agent_view(view)
    return {"project": view["project"], "agent": view["agent"], "state": state, "total": len(items), "items": items}


def _show(result: dict[str, Any], title: str, empty: str) -> None:
    grid = table(title, "Msg", "To", "From", "Subject", "Importance", "Sent", "Waiting", "Read")
    for item in result["items"]:
        grid.add_row(
            str(item["message_id"]),
            plain(item["recipient"]),
            plain(item["from"]),
            plain(item["subject"]),
            plain(item["importance"]),
            when(item["created_ts"]),
            age(item["age_seconds"]),
            when(item["read_ts"]) if item.get("read_ts") else "unread",
        )
    print_table(grid, empty)
    shown = len(result["items"])
    if result["total"] > shown:
        typer.echo(f"{shown} of {result['total']} shown; raise --limit to see more.")


@acks_app.command("pending")
@handle_errors
def pending(
    project: ProjectOption,
    agent: AgentOption = None,
    limit: LimitOption = 200,
    as_json: JsonOption = False,
) -> None:
    """List every acknowledgement still owed (the project's oldest first; one agent's newest first)."""
    result = _collect(project, agent, "all", None, limit)
    if as_json:
        emit_json(result)
        return
    who = f" by {plain(agent)}" if agent else ""
    _show(result, f"Acknowledgements owed{who}", f"No acknowledgements owed{who}.")


@acks_app.command("overdue", epilog=f"Exit status: 0 when nothing is overdue, {OVERDUE_EXIT} when something is.")
@handle_errors
def overdue(
    project: ProjectOption,
    agent: AgentOption = None,
    ttl_minutes: Annotated[
        int, typer.Option("--ttl-minutes", min=1, max=365 * 24 * 60, help="Overdue after this many minutes.")
    ] = 60,
    limit: LimitOption = 200,
    as_json: JsonOption = False,
) -> None:
    """List acknowledgements owed for longer than --ttl-minutes, oldest first; exit 3 when there are any."""
    result = _collect(project, agent, "overdue", ttl_minutes, limit)
    result["ttl_minutes"] = ttl_minutes
    if as_json:
        emit_json(result)
    else:
        who = f" by {plain(agent)}" if agent else ""
        _show(result, f"Acknowledgements overdue{who} (over {ttl_minutes} min)", f"Nothing overdue{who}.")
    if result["items"]:
        raise typer.Exit(OVERDUE_EXIT)


def attach(app: typer.Typer) -> None:
    """Add the ``acks`` command group to ``app``."""
    app.add_typer(acks_app, name="acks")


__all__ = ["OVERDUE_EXIT", "acks_app", "attach"]
