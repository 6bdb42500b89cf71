"""The engine of last resort: every word anywhere in subject or body, newest first, with no index."""

from __future__ import annotations

from sqlalchemy import RowMapping, and_, exists, literal, null, or_, select

from mcp_agent_mail.db import schema
from mcp_agent_mail.db.fulltext.base import Request
from mcp_agent_mail.db.transactions import ReadTransaction


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(session: ReadTransaction, words: list[str], request: Request) -> list[RowMapping]:
    """Return messages containing every word (case-insensitive), newest first; ``snippet`` is None, ``body_md`` set."""
    m, a, r, p = schema.messages, schema.agents, schema.message_recipients, schema.projects
    ra = a.alias("recipient_agent")
    query = (
        select(
            m.c.id,
            m.c.subject,
            m.c.importance,
            m.c.ack_required,
            m.c.created_ts,
            m.c.thread_id,
            a.c.name.label("sender_name"),
            a.c.project_id.label("sender_project_id"),
            p.c.slug.label("sender_slug"),
            literal(0.0).label("rank"),
            null().label("snippet"),
            m.c.body_md,
        )
        .join(a, a.c.id == m.c.sender_id)
        .join(p, p.c.id == a.c.project_id)
    )
    scope = request.scope
    if scope.agent_id is None:
        delivered = exists().where(
            and_(r.c.message_id == m.c.id, ra.c.id == r.c.agent_id, ra.c.project_id == scope.project_id)
        )
        query = query.where(or_(m.c.project_id == scope.project_id, delivered))
    else:
        mine = exists().where(and_(r.c.message_id == m.c.id, r.c.agent_id == scope.agent_id))
        query = query.where(or_(m.c.sender_id == scope.agent_id, mine))
    for word in words:
        pattern = f"%{_escape_like(word.lower())}%"
        query = query.where(or_(m.c.subject.ilike(pattern, escape="\\"), m.c.body_md.ilike(pattern, escape="\\")))
    query = query.order_by(m.c.created_ts.desc(), m.c.id.desc()).limit(request.limit).offset(request.offset)
    return list((await session.execute(query)).mappings().all())


__all__ = ["search"]
