"""Helpers for restore point tests: a small mailbox made through the services, and plain looks at its data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dulwich.repo import Repo

from db_kit import on_sqlite
from db_kit import rows as table_rows
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message
from pg_cluster import on_postgresql

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


def current_subjects() -> list[str]:
    """Return the subjects stored in the configured database (either backend), oldest first."""
    return [row[0] for row in table_rows("messages", "subject")]


postgresql_only = pytest.mark.skipif(not on_postgresql(), reason="replaces a PostgreSQL database's tables in place")

__all__ = ["PROJECT", "SIDE_PROJECT", "current_subjects", "fill_mailbox", "head", "on_sqlite", "postgresql_only"]


def head(storage: Path) -> str:
    """Return the commit the archive's HEAD points at."""
    repo = Repo(str(storage))
    try:
        return repo.head().decode()
    finally:
        repo.close()
