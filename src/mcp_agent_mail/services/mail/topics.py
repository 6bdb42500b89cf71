"""Topics: listing the messages labelled with a topic, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.db import get_session, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import check_limit, resolve_project
from mcp_agent_mail.services.mail.messages import check_topic
from mcp_agent_mail.services.summaries.summarize import viewer_row, viewer_scope
from mcp_agent_mail.timeutil import iso, parse_timestamp


def _item(row: RowMapping, include_bodies: bool, reader_project_id: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row["id"],
        "project_id": row["project_id"],
        "sender_id": row["sender_id"],
        "from": row["sender_name"],
    }
    if row["sender_project_id"] != reader_project_id:
        item["from"] = f"{row['sender_name']}@{row['sender_slug']}"
    if row["thread_id"] is not None:
        item["thread_id"] = row["thread_id"]
    item.update(
        topic=row["topic"],
        subject=row["subject"],
        importance=row["importance"],
        ack_required=bool(row["ack_required"]),
        created_ts=iso(row["created_ts"]),
    )
    if include_bodies:
        item["body_md"] = row["body_md"]
    return item


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
    since = parse_timestamp(since_ts, field="since_ts") if since_ts is not None and since_ts.strip() else None
    m, a, p = schema.messages, schema.agents, schema.projects
    async with get_session() as session:
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
        if since is not None:
            query = query.where(m.c.created_ts > since)
        query = query.order_by(m.c.created_ts.desc(), m.c.id.desc()).limit(limit)
        rows = (await session.execute(query)).mappings().all()
    return [_item(row, include_bodies, project["id"]) for row in rows]
