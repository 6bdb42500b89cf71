"""Marking many messages read at once for one recipient (the overseer's "mark read" and "mark all read")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, select, update

from mcp_agent_mail import archive
from mcp_agent_mail.db import WriteTransaction, run_write, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.services.mail.store import ensure_writable
from mcp_agent_mail.timeutil import utcnow

MAX_IDS = 500
m, r = schema.messages, schema.message_recipients


def check_ids(message_ids: list[int]) -> list[int]:
    """Return the distinct ids in order, or raise INVALID_ARGUMENT when there are none or too many."""
    ids = list(dict.fromkeys(message_ids))
    if not ids:
        raise InvalidArgumentError("No messages were selected.", hint="Tick at least one message.")
    if len(ids) > MAX_IDS:
        raise InvalidArgumentError(f"At most {MAX_IDS} messages can be marked at once, not {len(ids)}.")
    return ids


async def _mark(project_key: str, agent_name: str, message_ids: list[int] | None) -> dict[str, Any]:
    async def unit(session: WriteTransaction) -> tuple[RowMapping, RowMapping, int]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name, field="agent")
        query = select(r.c.message_id, m.c.project_id).join(m, m.c.id == r.c.message_id)
        query = query.where(r.c.agent_id == agent["id"], r.c.read_ts.is_(None))
        if message_ids is not None:
            query = query.where(r.c.message_id.in_(message_ids))
        pending = (await session.execute(query)).all()
        if pending:
            ensure_writable(project)
            ids = [message_id for message_id, _ in pending]
            await session.execute(
                update(r).where(r.c.agent_id == agent["id"], r.c.message_id.in_(ids)).values(read_ts=utcnow())
            )
            for message_id, message_project in pending:
                await archive.enqueue(session, message_project, "receipt", message_id)
        return project, agent, len(pending)

    project, agent, changed = await run_write(unit)
    if changed:
        archive.wake_writer()
    return {"project": project["slug"], "agent": agent["name"], "marked": changed}


async def mark_read(project_key: str, agent_name: str, message_ids: list[int]) -> dict[str, Any]:
    """Mark the given messages read for one recipient; return how many were unread before (``marked``)."""
    return await _mark(project_key, agent_name, check_ids(message_ids))


async def mark_all_read(project_key: str, agent_name: str) -> dict[str, Any]:
    """Mark every unread message of one recipient read; return how many changed (``marked``)."""
    return await _mark(project_key, agent_name, None)


__all__ = ["MAX_IDS", "check_ids", "mark_all_read", "mark_read"]
