"""Messages: sending new mail and replying in threads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_agent_mail import archive
from mcp_agent_mail.db import schema, write_session
from mcp_agent_mail.errors import AgentRetiredError, InvalidArgumentError, NotFoundError, ProjectArchivedError
from mcp_agent_mail.services import recipients as rcpt
from mcp_agent_mail.services.common import get_agent, resolve_project
from mcp_agent_mail.timeutil import iso, utcnow

IMPORTANCE_LEVELS = ("low", "normal", "high", "urgent")
SUBJECT_MAX = 200
BODY_MAX_BYTES = 1024 * 1024
_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Draft:
    """A validated message, ready to store."""

    subject: str
    body_md: str
    importance: str
    ack_required: bool
    thread_id: str | None
    topic: str | None
    notices: tuple[str, ...] = ()


def check_importance(value: str) -> str:
    """Return the lowercase importance, or raise INVALID_ARGUMENT if it is not low|normal|high|urgent."""
    cleaned = (value or "").strip().lower() if isinstance(value, str) else ""
    if cleaned not in IMPORTANCE_LEVELS:
        raise InvalidArgumentError(
            f"importance {value!r} is not one of {', '.join(IMPORTANCE_LEVELS)}.",
            hint="Use normal unless the message really is high or urgent.",
        )
    return cleaned


def check_subject(value: str, notices: list[str]) -> str:
    """Return the trimmed subject, cut to 200 characters (adding a notice), or raise if empty."""
    cleaned = (value or "").strip() if isinstance(value, str) else ""
    if not cleaned:
        raise InvalidArgumentError("subject is empty.", hint="Give the message a short subject line.")
    if len(cleaned) > SUBJECT_MAX:
        notices.append(f"subject was {len(cleaned)} characters and was cut to {SUBJECT_MAX}.")
        cleaned = cleaned[:SUBJECT_MAX].rstrip()
    return cleaned


def check_body(value: str) -> str:
    """Return the Markdown body, or raise if it is not a string or larger than 1 MiB."""
    if not isinstance(value, str):
        raise InvalidArgumentError("body_md must be a string of Markdown.")
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > BODY_MAX_BYTES:
        raise InvalidArgumentError(
            f"body_md is {size} bytes; the limit is {BODY_MAX_BYTES} bytes.",
            hint="Shorten the body or split it into several messages in one thread.",
        )
    return value


def check_thread_id(value: str | None) -> str | None:
    """Return the trimmed thread id (None when blank), or raise if it has invalid characters."""
    if value is None:
        return None
    cleaned = str(value).strip()
    if not cleaned:
        return None
    if not _THREAD_ID.match(cleaned):
        raise InvalidArgumentError(
            f"thread_id {value!r} is not valid.",
            hint="Use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. FEAT-123 or 42).",
        )
    return cleaned


def check_topic(value: str | None) -> str | None:
    """Return the trimmed topic (None when blank), or raise if it is not 1-64 of [A-Za-z0-9_-]."""
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        return None
    if not _TOPIC.match(cleaned):
        raise InvalidArgumentError(
            f"topic {value!r} is not valid.", hint="Use 1-64 letters, digits, '_' or '-', e.g. build-status."
        )
    return cleaned


def in_thread(thread_id: str) -> ColumnElement[bool]:
    """Return the condition for messages of a thread: its thread_id, or the seed message whose id it is."""
    m = schema.messages
    condition: ColumnElement[bool] = m.c.thread_id == thread_id
    if thread_id.isdigit():
        condition = or_(condition, m.c.id == int(thread_id))
    return condition


def ensure_writable(project: RowMapping) -> None:
    """Raise PROJECT_ARCHIVED when the project accepts no new writes."""
    if project["archived_at"] is not None:
        raise ProjectArchivedError(f"Project {project['slug']!r} is archived.")


def ensure_active(agent: RowMapping) -> None:
    """Raise AGENT_RETIRED when the agent may not send."""
    if agent["retired_at"] is not None:
        raise AgentRetiredError(f"Agent {agent['name']!r} is retired.")


async def _store(
    session: AsyncSession, project: RowMapping, sender: RowMapping, draft: Draft, recipients: rcpt.Recipients
) -> dict[str, Any]:
    now = utcnow()
    m = schema.messages
    message_id = (
        await session.execute(
            m.insert()
            .values(
                project_id=project["id"],
                sender_id=sender["id"],
                thread_id=draft.thread_id,
                topic=draft.topic,
                subject=draft.subject,
                body_md=draft.body_md,
                importance=draft.importance,
                ack_required=draft.ack_required,
                created_ts=now,
                attachments=[],
            )
            .returning(m.c.id)
        )
    ).scalar_one()
    await session.execute(schema.message_recipients.insert(), recipients.rows(message_id))
    a = schema.agents
    await session.execute(update(a).where(a.c.id == sender["id"]).values(last_active_ts=now))
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
        body_md=draft.body_md,
        to=recipients.names("to"),
        cc=recipients.names("cc"),
        bcc=recipients.names("bcc"),
    )
    return payload


def _result(project: RowMapping, payload: dict[str, Any], notices: tuple[str, ...]) -> dict[str, Any]:
    result: dict[str, Any] = {"deliveries": [{"project": project["human_key"], "payload": payload}], "count": 1}
    if notices:
        result["notices"] = list(notices)
    return result


async def send_message(
    project_key: str,
    sender_name: str,
    to: list[str] | None,
    subject: str,
    body_md: str,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    importance: str = "normal",
    ack_required: bool = False,
    thread_id: str | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """Store a new message for the named recipients and queue it for the archive."""
    notices: list[str] = []
    draft = Draft(
        subject=check_subject(subject, notices),
        body_md=check_body(body_md),
        importance=check_importance(importance),
        ack_required=bool(ack_required),
        thread_id=check_thread_id(thread_id),
        topic=check_topic(topic),
        notices=tuple(notices),
    )
    lists = rcpt.clean_lists(to, cc, bcc)
    async with write_session() as session:
        project = await resolve_project(session, project_key)
        ensure_writable(project)
        sender = await get_agent(session, project, sender_name, field="sender_name")
        ensure_active(sender)
        recipients = await rcpt.resolve(session, project, lists)
        payload = await _store(session, project, sender, draft, recipients)
    archive.wake_writer()
    return _result(project, payload, draft.notices)


def reply_subject(original: str, prefix: str) -> str:
    """Prefix a subject once (``Re: x`` stays ``Re: x``); an empty prefix keeps it as is."""
    cleaned = (prefix or "").strip()
    if not cleaned or original.lower().startswith(cleaned.lower()):
        return original
    return f"{cleaned} {original}"


async def _visible_message(
    session: AsyncSession, project: RowMapping, agent: RowMapping, message_id: int
) -> RowMapping:
    m, r = schema.messages, schema.message_recipients
    is_recipient = exists().where(r.c.message_id == m.c.id, r.c.agent_id == agent["id"])
    row = (
        await session.execute(
            select(m).where(
                m.c.id == message_id,
                m.c.project_id == project["id"],
                (m.c.sender_id == agent["id"]) | is_recipient,
            )
        )
    ).mappings().first()
    if row is None:
        raise NotFoundError(
            f"Message {message_id} not found or not visible to {agent['name']}.",
            hint="Reply only to messages you sent or received; fetch_inbox lists yours.",
        )
    return row


async def _default_to(session: AsyncSession, original: RowMapping, sender: RowMapping) -> list[str]:
    a, r = schema.agents, schema.message_recipients
    if original["sender_id"] != sender["id"]:
        name = (await session.execute(select(a.c.name).where(a.c.id == original["sender_id"]))).scalar_one()
        return [name]
    rows = await session.execute(
        select(a.c.name)
        .join(r, r.c.agent_id == a.c.id)
        .where(r.c.message_id == original["id"], r.c.kind == "to")
        .order_by(a.c.name)
    )
    return list(rows.scalars())


async def reply_message(
    project_key: str,
    message_id: int,
    sender_name: str,
    body_md: str,
    to: list[str] | None = None,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    subject_prefix: str = "Re:",
) -> dict[str, Any]:
    """Reply in the original's thread, by default to its sender (or to its recipients when it is yours)."""
    body = check_body(body_md)
    if to is not None:
        rcpt.clean_lists(to, cc, bcc)  # an explicit empty list must not silently send nothing
    async with write_session() as session:
        project = await resolve_project(session, project_key)
        ensure_writable(project)
        sender = await get_agent(session, project, sender_name, field="sender_name")
        ensure_active(sender)
        original = await _visible_message(session, project, sender, message_id)
        recipients_to = to if to is not None else await _default_to(session, original, sender)
        lists = rcpt.clean_lists(recipients_to, cc, bcc)
        notices: list[str] = []
        draft = Draft(
            subject=check_subject(reply_subject(original["subject"], subject_prefix), notices),
            body_md=body,
            importance=original["importance"],
            ack_required=bool(original["ack_required"]),
            thread_id=original["thread_id"] or str(original["id"]),
            topic=original["topic"],
            notices=tuple(notices),
        )
        recipients = await rcpt.resolve(session, project, lists)
        payload = await _store(session, project, sender, draft, recipients)
    archive.wake_writer()
    result = _result(project, payload, draft.notices)
    result["thread_id"] = draft.thread_id
    result["reply_to"] = original["id"]
    return result
