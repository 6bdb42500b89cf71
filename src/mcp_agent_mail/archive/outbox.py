"""The archive outbox: what the Git archive still has to show.

Services call :func:`enqueue` inside the same write transaction as the change
itself, so a committed change always has its archive work recorded. The
archive writer renders each entry from the database and commits it to Git.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from mcp_agent_mail.db import schema
from mcp_agent_mail.timeutil import utcnow

OutboxKind = Literal["project", "agent", "message", "receipt", "reservation"]


_INSERT = schema.archive_outbox.insert()


async def enqueue(session: AsyncSession, project_id: int, kind: OutboxKind, ref: int | str) -> None:
    """Record that the archive must (re)render ``kind``/``ref`` of a project."""
    await session.execute(_INSERT, {"project_id": project_id, "kind": kind, "ref": str(ref), "created_ts": utcnow()})


async def enqueue_many(
    session: AsyncSession, project_id: int, kind: OutboxKind, refs: list[int] | list[str]
) -> None:
    """Record several entries of one kind in one statement."""
    if not refs:
        return
    now = utcnow()
    await session.execute(
        schema.archive_outbox.insert(),
        [{"project_id": project_id, "kind": kind, "ref": str(r), "created_ts": now} for r in refs],
    )
