"""Who is in the mailbox: ``projects list`` and ``agents list``. Reads only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.cli.tables import console, emit_json, plain, print_table, run, table, when

projects_app = typer.Typer(name="projects", help="The projects in the mailbox.", no_args_is_help=True)
agents_app = typer.Typer(name="agents", help="The agents of a project.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")]
PAGE_SIZE = 200


def _all_projects(progress: Callable[[int, int], None]) -> list[dict[str, Any]]:
    """Read every project, a page at a time, reporting (done, total) after each page."""
    from mcp_agent_mail.services.identity.overview import Page, projects_overview

    projects: list[dict[str, Any]] = []
    number = 1
    while True:
        page = run(projects_overview(Page(number, PAGE_SIZE)))
        projects += page["projects"]
        progress(len(projects), int(page["total"]))
        if not page["has_more"]:
            return projects
        number += 1


def _with_progress() -> list[dict[str, Any]]:
    """Read every project; past the first page, draw a progress bar on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar: Progress | None = None
    task: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if total <= PAGE_SIZE:
            return
        if bar is None:
            bar = Progress(
                TextColumn("Reading projects"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console(stderr=True),
                transient=True,
            )
            bar.start()
            task = bar.add_task("projects", total=total)
        bar.update(task, completed=done, total=total)

    try:
        return _all_projects(update)
    finally:
        if bar is not None:
            bar.stop()


@projects_app.command("list")
@handle_errors
def list_projects(as_json: JsonOption = False) -> None:
    """List every project, oldest first, with its agents, messages and last activity."""
    projects = _with_progress()
    if as_json:
        emit_json({"count": len(projects), "projects": projects})
        return
    grid = table("Projects", "Slug", "Path", "Agents", "Messages", "Last message", "Archived")
    for item in projects:
        grid.add_row(
            plain(item["slug"]),
            plain(item["human_key"]),
            str(item["agent_count"]),
            str(item["message_count"]),
            when(item["last_message_ts"]),
            when(item["archived_at"]) if item.get("archived_at") else "-",
        )
    print_table(grid, "No projects yet. Agents create one with ensure_project.")


@agents_app.command("list")
@handle_errors
def list_agents(
    project: Annotated[str, typer.Option("--project", "-p", help="The project: its absolute path or its slug.")],
    as_json: JsonOption = False,
) -> None:
    """List the project's agents, most recently active first, with unread counts; retired ones last."""
    from mcp_agent_mail.services.identity.roster import agents_directory

    directory = run(agents_directory(project))
    agents = directory["agents"] + directory.get("retired_agents", [])
    if as_json:
        emit_json({"project": directory["project"], "count": len(agents), "agents": agents})
        return
    grid = table(f"Agents of {plain(directory['project']['slug'])}", "Name", "Program", "Model", "Unread")
    grid.add_column("Last active")
    grid.add_column("Task", overflow="fold")
    for item in agents:
        retired = " [dim](retired)[/dim]" if item.get("retired_at") else ""
        grid.add_row(
            plain(item["name"]) + retired,
            plain(item["program"]),
            plain(item["model"]),
            str(item["unread_count"]),
            when(item["last_active_ts"]),
            plain(item.get("task_description") or ""),
        )
    print_table(grid, "No agents in this project yet.")


def attach(app: typer.Typer) -> None:
    """Add the ``projects`` and ``agents`` command groups to ``app``."""
    app.add_typer(projects_app, name="projects")
    app.add_typer(agents_app, name="agents")


__all__ = ["agents_app", "attach", "projects_app"]
