"""Topics: listing the messages labelled with a topic, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import check_limit, resolve_project
from mcp_agent_mail.services.mail.drafts import check_topic
from mcp_agent_mail.services.mail.entries import message_entry
from mcp_agent_mail.services.mail.inbox import since
from mcp_agent_mail.services.mail.visibility import viewer_row, viewer_scope


async def fetch_topic(
    project_key: str,
    topic_name: str,
    limit: int = 50,
    agent_name: str | None = None,
    include_bodies: bool = True,
    since_ts: str | None = None,
) -> list[dict[str, Any]]:
    """Return the project's messages (stored or delivered here) with this topic, newest first; the agent's if named."""
    topic = check_topic(topic_name) if isinstance(topic_name, str) else None
    if topic is None:
        raise InvalidArgumentError("topic_name is empty.", hint="Pass a topic such as build-status.")
    check_limit(limit)
    after = since(since_ts)
    m, a, p = schema.messages, schema.agents, schema.projects

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping]]:
        project = await resolve_project(session, project_key)
        viewer = await viewer_row(session, project, agent_name)
        query = (
            select(
                m,
                a.c.name.label("sender_name"),
                a.c.project_id.label("sender_project_id"),
                p.c.slug.label("sender_slug"),
            )
            .join(a, a.c.id == m.c.sender_id)
            .join(p, p.c.id == a.c.project_id)
            .where(viewer_scope(project, viewer), func.lower(m.c.topic) == topic.lower())
        )
        if after is not None:
            query = query.where(m.c.created_ts > after)
        query = query.order_by(m.c.created_ts.desc(), m.c.id.desc()).limit(limit)
        rows = (await session.execute(query)).mappings().all()
        return project, list(rows)

    project, rows = await run_read(read)
    return [message_entry(row, project["id"], body=include_bodies) for row in rows]
