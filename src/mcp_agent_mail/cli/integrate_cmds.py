"""``integrate``: add this server to the MCP configuration of the coding agents installed here (or remove it)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.integrate.machine import Machine
from mcp_agent_mail.services.integrate.registry import client_names
from mcp_agent_mail.services.integrate.run import Outcome, Report, Request, integrate

_DRY_VERBS = {"added": "would add", "updated": "would update", "removed": "would remove"}
_COLORS = {
    "added": typer.colors.GREEN,
    "updated": typer.colors.GREEN,
    "removed": typer.colors.GREEN,
    "not found": typer.colors.YELLOW,
    "error": typer.colors.RED,
}


def _line(outcome: Outcome, machine: Machine, dry_run: bool) -> str:
    status = _DRY_VERBS.get(outcome.status, outcome.status) if dry_run else outcome.status
    if outcome.status == "not found":
        return f"{status}: {outcome.client} ({outcome.detail})"
    where = machine.display(outcome.path) if outcome.path is not None else ""
    what = f"{outcome.client} reminder hook" if outcome.kind == "hook" else outcome.client
    text = f"{status}: {what} {where}"
    if outcome.status == "error":
        return f"{text}: {outcome.detail}"
    return f"{text} ({outcome.detail})" if outcome.detail and not dry_run else text


def _serve_command(report: Report) -> str:
    assert report.token_file is not None and report.http_url is not None
    parts = urlsplit(report.http_url)
    command = f'HTTP_BEARER_TOKEN="$(cat {shlex.quote(str(report.token_file))})" mcp-agent-mail serve'
    if parts.hostname:
        command += f" --host {shlex.quote(parts.hostname)}"
    if parts.port:
        command += f" --port {parts.port}"
    if parts.path:
        command += f" --path {shlex.quote(parts.path)}"
    return command


def _print(report: Report, machine: Machine) -> None:
    for outcome in report.outcomes:
        typer.secho(_line(outcome, machine, report.dry_run), fg=_COLORS.get(outcome.status))
        if report.dry_run and outcome.diff:
            typer.echo(outcome.diff, nl=False)
    for note in report.notes:
        typer.echo(note)
    if report.dry_run:
        typer.echo("Dry run: nothing was written.")
    elif not report.changed and not any(o.failed for o in report.outcomes):
        installed = [o for o in report.outcomes if o.status != "not found"]
        if report.undo:
            typer.echo("Nothing to remove: no client has an mcp-agent-mail entry.")
        elif installed:
            typer.echo("Nothing to change: every client found already has mcp-agent-mail.")
        else:
            typer.echo("No coding agent found on this machine.")
    elif report.changed and not report.undo:
        typer.echo("Restart the clients (or reload their MCP servers) to pick up mcp-agent-mail.")
    if report.token_file is not None and not report.undo:
        state = "created" if report.token_created else "kept"
        typer.echo(f"Bearer token {state} in {machine.display(report.token_file)} (readable by you only).")
        typer.echo("Start the server with the same token:")
        typer.echo(f"  {_serve_command(report)}")


def run(
    clients: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[CLIENT]...", help=f"Clients to configure (default: every one found): {', '.join(client_names())}."
        ),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Write the project-level file in DIR where a client has one (.mcp.json, .cursor/...)."
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option("--http", metavar="URL", help="Reach a running server at URL with a bearer token."),
    ] = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Have each client start `mcp-agent-mail stdio` itself (the default).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print a diff per file and write nothing.")] = False,
    undo: Annotated[bool, typer.Option("--undo", help="Remove the mcp-agent-mail entries this command added.")] = False,
    command: Annotated[
        str | None,
        typer.Option(metavar="PATH", help="The mcp-agent-mail executable clients start (default: this one)."),
    ] = None,
    hooks: Annotated[
        bool,
        typer.Option(
            "--hooks/--no-hooks",
            help="Also add a reminder hook (`mail status`) to Claude Code, Codex CLI and Gemini CLI, which show "
            "its line to the agent at the start of a session and with every prompt.",
        ),
    ] = True,
    agent: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="The agent the reminder hook reports on (default: $AGENT_MAIL_AGENT, else every agent with mail).",
        ),
    ] = None,
) -> None:
    """Add this server to the MCP configuration of every coding agent installed here, keeping everything else."""
    if stdio and http is not None:
        raise InvalidArgumentError("--stdio and --http exclude each other.", hint="Pick one transport.")
    request = Request(
        clients=tuple(clients or ()),
        project=project,
        http_url=http,
        dry_run=dry_run,
        undo=undo,
        command=command,
        hooks=hooks,
        agent=agent.strip() if agent and agent.strip() else None,
    )
    machine = Machine.current()
    report = integrate(request, data_dir=get_settings().data_dir, machine=machine)
    _print(report, machine)
    raise typer.Exit(report.exit_code)


def attach(app: typer.Typer) -> None:
    """Add the ``integrate`` command to ``app``."""
    app.command("integrate")(handle_errors(run))
