"""Storing a message: who may write, and the rows, blobs and archive job one message adds in its transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from mcp_agent_mail import archive
from mcp_agent_mail.db import WriteTransaction, message_rows, schema
from mcp_agent_mail.errors import AgentRetiredError, ProjectArchivedError
from mcp_agent_mail.services.identity.resolve import touch_agent
from mcp_agent_mail.services.mail import attachments
from mcp_agent_mail.services.mail import recipients as rcpt
from mcp_agent_mail.services.mail.drafts import Draft
from mcp_agent_mail.timeutil import iso, utcnow


def ensure_writable(project: RowMapping) -> None:
    """Raise PROJECT_ARCHIVED when the project accepts no new writes."""
    if project["archived_at"] is not None:
        raise ProjectArchivedError(f"Project {project['slug']!r} is archived.")


def ensure_active(agent: RowMapping) -> None:
    """Raise AGENT_RETIRED when the agent may not send."""
    if agent["retired_at"] is not None:
        raise AgentRetiredError(f"Agent {agent['name']!r} is retired.")


_m, _r = schema.messages, schema.message_recipients
_INSERT_MESSAGE = _m.insert().returning(_m.c.id)
_INSERT_RECIPIENTS = _r.insert()


async def store_message(
    session: WriteTransaction,
    project: RowMapping,
    sender: RowMapping,
    draft: Draft,
    recipients: rcpt.Recipients,
    blobs: dict[str, tuple[str, bytes]] | None = None,
) -> dict[str, Any]:
    """Insert a message, its recipient rows and attachment blobs, queue it for the archive; return its payload."""
    now = utcnow()
    await attachments.store_blobs(session, blobs or {}, now)
    values = {
        "project_id": project["id"],
        "sender_id": sender["id"],
        "thread_id": draft.thread_id,
        "topic": draft.topic,
        "subject": draft.subject,
        "body_md": draft.body_md,
        "importance": draft.importance,
        "ack_required": draft.ack_required,
        "created_ts": now,
        # Keys sorted as in the archive's front matter, so a rebuilt row is the same text.
        "attachments": [dict(sorted(meta.items())) for meta in draft.attachments],
    }
    if sender["project_id"] == project["id"] and message_rows.in_one_statement():
        statement, params = message_rows.store_statement(), message_rows.store_params(values, recipients.kinds)
        message_id = (await session.execute(statement, params)).scalar_one()
        return _payload(message_id, project, sender, draft, recipients, now)
    message_id = (await session.execute(_INSERT_MESSAGE, values)).scalar_one()
    await session.execute(_INSERT_RECIPIENTS, recipients.rows(message_id))
    await touch_agent(session, sender["project_id"], sender["id"], now)
    await archive.enqueue(session, project["id"], "message", message_id)
    return _payload(message_id, project, sender, draft, recipients, now)


def _payload(
    message_id: int,
    project: RowMapping,
    sender: RowMapping,
    draft: Draft,
    recipients: rcpt.Recipients,
    created: datetime,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": message_id,
        "project_id": project["id"],
        "sender_id": sender["id"],
        "from": sender["name"],
    }
    if draft.thread_id is not None:
        payload["thread_id"] = draft.thread_id
    if draft.topic is not None:
        payload["topic"] = draft.topic
    payload.update(
        subject=draft.subject,
        importance=draft.importance,
        ack_required=draft.ack_required,
        created_ts=iso(created),
    )
    if draft.attachments:
        payload["attachments"] = list(draft.attachments)
    payload.update(
        body_md=draft.body_md,
        to=recipients.names("to"),
        cc=recipients.names("cc"),
        bcc=recipients.names("bcc"),
    )
    return payload


__all__ = ["ensure_active", "ensure_writable", "store_message"]
