"""Which mail a viewer sees: an agent's own mail (sent or received), or without an agent the project's mail."""

from __future__ import annotations

from sqlalchemy import ColumnElement, RowMapping, and_, exists, or_

from mcp_agent_mail.db import ReadTransaction, schema
from mcp_agent_mail.services.identity.resolve import get_agent, in_project_scope


def visible_to(agent_id: int) -> ColumnElement[bool]:
    """Return the condition for messages an agent sent or received (to, cc or bcc)."""
    m, r = schema.messages, schema.message_recipients
    received = exists().where(and_(r.c.message_id == m.c.id, r.c.agent_id == agent_id))
    return or_(m.c.sender_id == agent_id, received)


def viewer_scope(project: RowMapping, viewer: RowMapping | None) -> ColumnElement[bool]:
    """Return what a viewer sees, wherever it is stored: its own mail, or without a viewer the project's mail."""
    return in_project_scope(project["id"]) if viewer is None else visible_to(viewer["id"])


async def viewer_row(session: ReadTransaction, project: RowMapping, agent_name: str | None) -> RowMapping | None:
    """Return the named viewer agent, or None when no name was given (the whole project)."""
    if agent_name is None or not str(agent_name).strip():
        return None
    return await get_agent(session, project, agent_name)


__all__ = ["viewer_row", "viewer_scope", "visible_to"]
