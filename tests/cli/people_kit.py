"""A small mailbox for the people's commands: one project, two agents, mail between them and a reservation."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.reservations.leases import reserve_paths

CLI = Path(sys.executable).with_name("mcp-agent-mail")


@dataclass
class Mailbox:
    """What the seeded mailbox holds."""

    project: str
    slug: str
    plain_id: int
    urgent_id: int
    reservation_id: int
    storage: Path


def seed(root: Path, storage: Path) -> Mailbox:
    """Create the project (at ``root/project``), BlueLake and RedFox, two messages to RedFox and a lease."""
    human_key = str(root / "project")

    async def setup() -> Mailbox:
        project = await ensure_project(human_key)
        for name in ("BlueLake", "RedFox"):
            await register_agent(human_key, "pytest", "test", name=name, task_description=f"{name} works")
        plain = await send_message(human_key, "BlueLake", ["RedFox"], "Plan for today", "# Plan\n\n- **ship** it")
        urgent = await send_message(
            human_key, "BlueLake", ["RedFox"], "Build broken", "Fix `main` now.", importance="urgent", ack_required=True
        )
        lease = await reserve_paths(human_key, "BlueLake", ["src/**"], reason="refactor")
        return Mailbox(
            project=human_key,
            slug=project["slug"],
            plain_id=_message_id(plain),
            urgent_id=_message_id(urgent),
            reservation_id=int(lease["granted"][0]["id"]),
            storage=storage,
        )

    return asyncio.run(setup())


def _message_id(result: dict[str, Any]) -> int:
    return int(result["deliveries"][0]["payload"]["id"])


def cli_app(module: Any) -> typer.Typer:
    """Return a Typer app holding only ``module``'s commands."""
    app = typer.Typer()
    module.attach(app)
    return app


WIDE = 400
_INHERITED_COLUMNS = os.environ.get("COLUMNS")


def _columns() -> str:
    """The width a command sees: the test's own ``COLUMNS`` if it set one, else :data:`WIDE`."""
    chosen = os.environ.get("COLUMNS")
    return chosen if chosen is not None and chosen != _INHERITED_COLUMNS else str(WIDE)


def invoke(module: Any, *args: str, input: str | None = None) -> Result:
    """Run a command of ``module`` in-process; stdout and stderr are kept apart.

    Tables are as wide as a roomy terminal (unless the test set ``COLUMNS`` itself), so a long path in a
    cell never wraps the words a test looks for, whatever width the run inherited.
    """
    return CliRunner().invoke(cli_app(module), list(args), input=input, env={"COLUMNS": _columns()})


def as_json(result: Result) -> Any:
    """Parse the command's stdout, which must be one JSON document."""
    assert result.exit_code in (0, 3), (result.exit_code, result.output, result.stderr)
    return json.loads(result.stdout)


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``mcp-agent-mail`` in a process of its own with the test's environment."""
    return subprocess.run(
        [str(CLI), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": _columns()},
        check=False,
    )


def require_registered(group: str, command: str) -> None:
    """Skip when the installed command line does not list ``group command`` yet."""
    if not CLI.exists() and shutil.which("mcp-agent-mail") is None:
        pytest.skip("the mcp-agent-mail console script is not installed")
    shown = run_cli(group, command, "--help")
    if shown.returncode != 0:
        pytest.skip(f"`{group} {command}` is not registered in mcp_agent_mail.cli yet: {shown.stderr.strip()[:200]}")
