"""The Git guard: ``guard install | uninstall | status | check``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors

guard_app = typer.Typer(
    name="guard",
    help="Git hooks that refuse commits touching files other agents reserved exclusively.",
    no_args_is_help=True,
)


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute()) if path.strip() else path


@guard_app.command("install")
@handle_errors
def install(
    project: Annotated[str, typer.Argument(help="The project: its absolute path (human key) or slug.")],
    repo: Annotated[str, typer.Argument(help="The code repository (a Git work tree) to guard.")],
    prepush: Annotated[
        bool, typer.Option("--prepush/--no-prepush", help="Also guard pushes (checks every commit being pushed).")
    ] = False,
) -> None:
    """Install the guard's pre-commit hook (and pre-push with --prepush); an existing hook keeps running."""
    from mcp_agent_mail.services.reservations.guard import install_for_project

    installed = asyncio.run(install_for_project(project, _absolute(repo), prepush=prepush))
    typer.secho(f"Installed guard for {installed['human_key']} at {installed['hook']}", fg=typer.colors.GREEN)
    if prepush:
        typer.echo(f"  Pushes are guarded too: {Path(installed['hook']).with_name('pre-push')}")
    typer.echo(f"  Mailbox database: {installed['mailbox']}")
    if installed.get("passfile"):
        typer.echo(f"  Its password is kept apart from the hooks, in {installed['passfile']} (readable by you only).")
    typer.echo("  Committers set AGENT_NAME so their own reservations pass; AGENT_MAIL_BYPASS=1 skips once.")


@guard_app.command("uninstall")
@handle_errors
def uninstall(repo: Annotated[str, typer.Argument(help="The code repository to remove the guard from.")]) -> None:
    """Remove the guard's hooks, restoring any hook it had chained."""
    from mcp_agent_mail.services.reservations.guard import repo_path, uninstall_precommit_guard
    from mcp_agent_mail.services.reservations.guard_install import hooks_dir

    path = repo_path(_absolute(repo))
    hooks = hooks_dir(path)
    if asyncio.run(uninstall_precommit_guard(str(path)))["removed"]:
        typer.secho(f"Removed the guard from {hooks}", fg=typer.colors.GREEN)
    else:
        typer.echo(f"No guard installed in {hooks}")


def _state(state: dict[str, Any]) -> str:
    if state.get("problem"):
        return f"[red]broken[/red]: {state['problem']}"
    if state["installed"]:
        return "[green]installed[/green]"
    return "not installed (another hook is there)" if state.get("other_hook") else "not installed"


def _mailbox_lines(state: dict[str, Any]) -> list[str]:
    """Say which mailbox a hook reads and, for PostgreSQL, where its password comes from."""
    if "database_path" in state:
        missing = (
            ""
            if state.get("database_exists")
            else "  [red](missing: the hooks refuse commits until you reinstall)[/red]"
        )
        return [f"Mailbox database: {state['database_path']}{missing}"]
    if "database_url" not in state:
        return []
    lines = [f"Mailbox database: {state['database_url']}"]
    if "passfile" in state:
        gone = (
            ""
            if state.get("passfile_exists")
            else "  [red](missing: logins that need it fail until you reinstall)[/red]"
        )
        lines.append(f"Password file: {state['passfile']}{gone}")
    else:
        lines.append("Password: none stored; libpq takes it from PGPASSWORD or ~/.pgpass")
    return lines


@guard_app.command("status")
@handle_errors
def status(repo: Annotated[str, typer.Argument(help="The code repository to inspect.")] = ".") -> None:
    """Show where the guard is installed in a repository and which mailbox and project it checks."""
    from rich.console import Console
    from rich.table import Table

    from mcp_agent_mail.services.reservations.guard import repo_path
    from mcp_agent_mail.services.reservations.guard_install import guard_status

    report = guard_status(repo_path(_absolute(repo)))
    table = Table(title=f"Guard in {report['hooks_dir']}")
    for column in ("Hook", "State", "Project", "Chains"):
        table.add_column(column)
    for hook, state in report["hooks"].items():
        chained = f"{hook}.orig" if state["chained_orig"] else "-"
        table.add_row(hook, _state(state), state.get("project_slug", "-"), chained)
    console = Console(width=200)
    console.print(table)
    for line in dict.fromkeys(line for state in report["hooks"].values() for line in _mailbox_lines(state)):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"AGENT_MAIL_GUARD_MODE: {report['guard_mode']}", highlight=False)
    agent = os.environ.get("AGENT_NAME", "").strip()
    console.print(f"AGENT_NAME: {agent or '(unset: every holder counts)'}", highlight=False)


def _read_paths(stdin_nul: bool) -> list[str]:
    data = sys.stdin.buffer.read() if sys.stdin is not None else b""
    text = data.decode("utf-8", errors="surrogateescape")
    parts = text.split("\0") if stdin_nul else text.splitlines()
    return list(dict.fromkeys(p for p in parts if p.strip()))


@guard_app.command("check")
@handle_errors
def check(
    stdin_nul: Annotated[bool, typer.Option("--stdin-nul", help="Paths on stdin are NUL-separated.")] = False,
    advisory: Annotated[bool, typer.Option("--advisory", help="Report conflicts but exit 0.")] = False,
    repo: Annotated[str | None, typer.Option("--repo", help="Repository (default: the current directory).")] = None,
) -> None:
    """Check paths given on stdin (one per line, or NUL-separated) against other agents' exclusive reservations."""
    from mcp_agent_mail.guard.hook import run_check
    from mcp_agent_mail.services.reservations.guard import repo_path

    path = repo_path(_absolute(repo)) if repo else Path.cwd()
    agent = os.environ.get("AGENT_NAME", "").strip() or None
    code = run_check(_read_paths(stdin_nul), repo=path, agent_name=agent, advisory=advisory)
    raise typer.Exit(code)


def attach(app: typer.Typer) -> None:
    """Add the ``guard`` command group to ``app``."""
    app.add_typer(guard_app, name="guard")
