"""The Git archive: a human-readable projection of the database.

Services only :func:`enqueue` work (inside their write transaction) and call
:func:`wake_writer` after committing. The writer renders files from the current
database state and commits them to the repository at ``STORAGE_ROOT``, one
commit per batch. Runtime API:

- ``wake_writer()``: nudge this process's writer(s) after a commit (cheap, any thread).
- ``flush_pending(settings=None, *, timeout=30.0) -> int``: synchronously apply every
  pending outbox row; used before ``archive save`` and by doctor. Raises UNAVAILABLE
  when another process holds the writer lock longer than ``timeout``.
- ``pending_count(settings=None) -> int``: rows still waiting.
- ``writer_running()`` (``archive.writer``): async context manager for a server lifespan.
- ``render_project_files(conn, project_id)`` / ``render_archive_files(conn)``: the full
  projection (repo-relative path -> bytes) computed from a sync connection, for doctor.
- ``recent_agent_commits(project_key, agent_name, limit)``: async; commits touching an agent's folder.
- ``clear_repo_cache() -> int``: close cached repository handles.

The file layout is documented in ``docs/archive-layout.md``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from mcp_agent_mail.archive.outbox import enqueue, enqueue_many
from mcp_agent_mail.archive.wake import wake_writer

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from mcp_agent_mail.config import Settings


def flush_pending(settings: Settings | None = None, *, timeout: float = 30.0) -> int:
    """Apply every pending outbox row to the Git archive; return how many rows were applied."""
    from mcp_agent_mail.archive.flush import flush_pending as _flush

    return _flush(settings, timeout=timeout)


def pending_count(settings: Settings | None = None) -> int:
    """Return how many outbox rows still wait for the archive."""
    from mcp_agent_mail.archive.flush import pending_count as _count

    return _count(settings)


def clear_repo_cache() -> int:
    """Close cached repository handles; return how many were closed."""
    from mcp_agent_mail.archive.repo import clear_repo_cache as _clear

    return _clear()


def render_project_files(conn: Connection, project_id: int) -> dict[str, bytes]:
    """Return every archive file derived from one project's rows (repo-relative path -> bytes)."""
    from mcp_agent_mail.archive.render import render_project_files as _render

    return _render(conn, project_id)


def render_archive_files(conn: Connection) -> dict[str, bytes]:
    """Return the whole projection of the database, ``.gitattributes`` included."""
    from mcp_agent_mail.archive.render import render_archive_files as _render

    return _render(conn)


async def recent_agent_commits(project_key: str, agent_name: str, limit: int) -> list[dict[str, Any]]:
    """Return the latest archive commits touching an agent's folder (newest first)."""
    from mcp_agent_mail.archive.history import agent_commits
    from mcp_agent_mail.config import get_settings

    return await asyncio.to_thread(agent_commits, get_settings(), project_key, agent_name, limit)


__all__ = [
    "clear_repo_cache",
    "enqueue",
    "enqueue_many",
    "flush_pending",
    "pending_count",
    "recent_agent_commits",
    "render_archive_files",
    "render_project_files",
    "wake_writer",
]
