"""Helpers for restore point tests: a small mailbox made through the services, and plain looks at its files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dulwich.repo import Repo

from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message

PROJECT = "/work/restore-points"
SIDE_PROJECT = "/work/restore-side"


async def fill_mailbox(*subjects: str) -> None:
    """Create two projects (two agents in the first, one in the second) and send ``subjects`` in the first."""
    await ensure_project(PROJECT)
    await ensure_project(SIDE_PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "pytest", "m", name=name)
    await register_agent(SIDE_PROJECT, "pytest", "m", name="GreenCastle")
    for subject in subjects:
        await send_message(PROJECT, "BlueLake", ["RedFox"], subject, "body")


def subjects(db_path: Path) -> list[str]:
    """Return the subjects stored in a database file, oldest first."""
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT subject FROM messages ORDER BY id")]


def head(storage: Path) -> str:
    """Return the commit the archive's HEAD points at."""
    repo = Repo(str(storage))
    try:
        return repo.head().decode()
    finally:
        repo.close()
