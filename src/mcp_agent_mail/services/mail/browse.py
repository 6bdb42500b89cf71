"""Mail as people browse it: every project's mail at once, a project's threads, an agent's boxes, one message.

These views are the overseer's: they see every message, but never who was blind-copied (only how many).
Every list is paged: callers pass a :class:`~mcp_agent_mail.services.identity.overview.Page` and get
``has_more`` back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, String, and_, cast, exists, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.identity.overview import Page, paged
from mcp_agent_mail.services.identity.resolve import get_agent, in_project_scope, resolve_project
from mcp_agent_mail.services.mail.drafts import check_importance, check_thread_id
from mcp_agent_mail.services.mail.messages import in_thread
from mcp_agent_mail.timeutil import iso

m, r, a, p = schema.messages, schema.message_recipients, schema.agents, schema.projects
_sender = a.alias("browse_sender")
_rcpt = a.alias("browse_recipient")
EXCERPT_CHARS = 160
THREAD_LIMIT = 200


@dataclass(frozen=True, slots=True)
class InboxFilters:
    """Filters of the unified inbox; empty strings and False mean "any"."""

    project: str = ""
    importance: str = ""
    unread: bool = False
    ack: bool = False
    sender: str = ""


def _excerpt(body: str | None) -> str:
    text = " ".join((body or "").replace("#", " ").replace("*", " ").replace("`", " ").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _unread_somewhere() -> ColumnElement[bool]:
    return exists().where(r.c.message_id == m.c.id, r.c.read_ts.is_(None))


def _unacked_somewhere() -> ColumnElement[bool]:
    return and_(m.c.ack_required.is_(True), exists().where(r.c.message_id == m.c.id, r.c.ack_ts.is_(None)))


def _counts() -> tuple[Any, ...]:
    """Return correlated counts per message: recipients, unread ones, unacknowledged ones."""
    total = select(func.count()).where(r.c.message_id == m.c.id).scalar_subquery()
    unread = select(func.count()).where(r.c.message_id == m.c.id, r.c.read_ts.is_(None)).scalar_subquery()
    unacked = select(func.count()).where(r.c.message_id == m.c.id, r.c.ack_ts.is_(None)).scalar_subquery()
    return total.label("recipient_count"), unread.label("unread_count"), unacked.label("unacked_count")


_LISTED = (
    m.c.id,
    m.c.project_id,
    m.c.thread_id,
    m.c.subject,
    m.c.importance,
    m.c.ack_required,
    m.c.created_ts,
    func.substr(m.c.body_md, 1, EXCERPT_CHARS * 2).label("excerpt_md"),
    _sender.c.name.label("sender_name"),
    p.c.slug.label("project_slug"),
)


async def _visible_recipients(session: ReadTransaction, message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Return ``message_id -> {to: [..], cc: [..], bcc_count: n}`` (names as ``name`` or ``name@slug``)."""
    if not message_ids:
        return {}
    rp = p.alias("browse_recipient_project")
    rows = (
        await session.execute(
            select(r.c.message_id, r.c.kind, _rcpt.c.name, _rcpt.c.project_id, rp.c.slug, m.c.project_id)
            .join(_rcpt, _rcpt.c.id == r.c.agent_id)
            .join(rp, rp.c.id == _rcpt.c.project_id)
            .join(m, m.c.id == r.c.message_id)
            .where(r.c.message_id.in_(message_ids))
            .order_by(r.c.message_id, _rcpt.c.name_key)
        )
    ).all()
    found: dict[int, dict[str, Any]] = {mid: {"to": [], "cc": [], "bcc_count": 0} for mid in message_ids}
    for message_id, kind, name, agent_project, slug, message_project in rows:
        entry = found[message_id]
        if kind == "bcc":
            entry["bcc_count"] += 1
        else:
            entry.setdefault(kind, []).append(name if agent_project == message_project else f"{name}@{slug}")
    return found


def _listed(row: RowMapping, recipients: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row["id"],
        "project": row["project_slug"],
        "thread_id": row["thread_id"],
        "thread_key": row["thread_id"] or str(row["id"]),
        "subject": row["subject"] or "(no subject)",
        "importance": row["importance"],
        "ack_required": bool(row["ack_required"]),
        "created_ts": iso(row["created_ts"]),
        "sender": row["sender_name"],
        "excerpt": _excerpt(row["excerpt_md"]),
        "to": recipients.get("to", []),
        "cc": recipients.get("cc", []),
        "bcc_count": recipients.get("bcc_count", 0),
    }
    for key in ("recipient_count", "unread_count", "unacked_count"):
        if key in row:
            item[key] = int(row[key] or 0)
    if not item["ack_required"]:
        item["unacked_count"] = 0
    return item


def _base_listing() -> Any:
    return (
        select(*_LISTED, *_counts())
        .select_from(m.join(_sender, _sender.c.id == m.c.sender_id).join(p, p.c.id == m.c.project_id))
        .order_by(m.c.id.desc())
    )


async def unified_inbox(filters: InboxFilters, page: Page, *, after: int | None = None) -> dict[str, Any]:
    """Return a page of every project's mail, newest first, filtered; with ``after``, only messages newer than it."""
    importance = check_importance(filters.importance) if filters.importance else ""
    if after is not None and after < 0:
        raise InvalidArgumentError(f"after must be 0 or more, not {after}.")
    query = _base_listing()
    if importance:
        query = query.where(m.c.importance == importance)
    if filters.unread:
        query = query.where(_unread_somewhere())
    if filters.ack:
        query = query.where(_unacked_somewhere())
    if filters.sender:
        query = query.where(_sender.c.name_key == name_key(filters.sender))
    if after is not None:
        query = query.where(m.c.id > after)

    async def read(session: ReadTransaction) -> tuple[list[RowMapping], dict[int, dict[str, Any]]]:
        nonlocal query
        if filters.project:
            project = await resolve_project(session, filters.project)
            query = query.where(in_project_scope(project["id"]))
        rows = list((await session.execute(query.offset(page.offset).limit(page.size + 1))).mappings().all())
        return rows, await _visible_recipients(session, [row["id"] for row in rows[: page.size]])

    rows, recipients = await run_read(read)
    shown, more = paged(rows, page)
    return {
        "messages": [_listed(row, recipients.get(row["id"], {})) for row in shown],
        "page": page.number,
        "has_more": more,
    }


async def project_threads(project_key: str, page: Page) -> dict[str, Any]:
    """Return a page of a project's threads, most recently active first, with message counts and participants."""
    key = func.coalesce(m.c.thread_id, cast(m.c.id, String)).label("thread_key")

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping]]:
        project = await resolve_project(session, project_key)
        grouped = (
            select(
                key,
                func.count().label("message_count"),
                func.max(m.c.created_ts).label("last_ts"),
                func.min(m.c.id).label("first_id"),
                func.max(m.c.id).label("last_id"),
            )
            .where(m.c.project_id == project["id"])
            .group_by(key)
            .subquery()
        )
        first = m.alias("browse_first")
        query = (
            select(grouped, first.c.subject)
            .join(first, first.c.id == grouped.c.first_id)
            .order_by(grouped.c.last_id.desc())
            .offset(page.offset)
            .limit(page.size + 1)
        )
        return project, list((await session.execute(query)).mappings().all())

    project, rows = await run_read(read)
    shown, more = paged(rows, page)
    threads = [
        {
            "thread_key": row["thread_key"],
            "subject": row["subject"] or "(no subject)",
            "message_count": int(row["message_count"]),
            "last_ts": iso(row["last_ts"]),
        }
        for row in shown
    ]
    return {"project": project["slug"], "threads": threads, "page": page.number, "has_more": more}


async def agent_box(project_key: str, agent_name: str, box: str, page: Page) -> dict[str, Any]:
    """Return a page of an agent's ``inbox`` (with its read/ack state) or ``outbox``, newest first."""
    if box not in ("inbox", "outbox"):
        raise InvalidArgumentError(f"box must be inbox or outbox, not {box!r}.")

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, list[RowMapping], dict[int, Any], int]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name, field="agent")
        if box == "inbox":
            query = (
                select(*_LISTED, r.c.kind, r.c.read_ts, r.c.ack_ts)
                .select_from(
                    m.join(r, r.c.message_id == m.c.id)
                    .join(_sender, _sender.c.id == m.c.sender_id)
                    .join(p, p.c.id == m.c.project_id)
                )
                .where(r.c.agent_id == agent["id"])
            )
        else:
            query = _base_listing().where(m.c.sender_id == agent["id"])
        query = query.order_by(m.c.id.desc()).offset(page.offset).limit(page.size + 1)
        rows = list((await session.execute(query)).mappings().all())
        unread = int(
            (
                await session.execute(select(func.count()).where(r.c.agent_id == agent["id"], r.c.read_ts.is_(None)))
            ).scalar_one()
        )
        recipients = await _visible_recipients(session, [row["id"] for row in rows[: page.size]])
        return project, agent, rows, recipients, unread

    project, agent, rows, recipients, unread = await run_read(read)
    shown, more = paged(rows, page)
    items = []
    for row in shown:
        item = _listed(row, recipients.get(row["id"], {}))
        if box == "inbox":
            item.update(kind=row["kind"], read_ts=iso(row["read_ts"]) if row["read_ts"] else None)
            item["ack_ts"] = iso(row["ack_ts"]) if row["ack_ts"] else None
        items.append(item)
    return {
        "project": {"slug": project["slug"], "human_key": project["human_key"]},
        "agent": {"name": agent["name"], "retired": agent["retired_at"] is not None},
        "box": box,
        "unread_count": unread,
        "messages": items,
        "page": page.number,
        "has_more": more,
    }


async def _message_row(session: ReadTransaction, project: RowMapping, message_id: int) -> RowMapping:
    row = (
        (
            await session.execute(
                select(*_LISTED, m.c.body_md, m.c.attachments, m.c.topic)
                .select_from(m.join(_sender, _sender.c.id == m.c.sender_id).join(p, p.c.id == m.c.project_id))
                .where(m.c.id == message_id, in_project_scope(project["id"]))
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"Message {message_id} is not in project {project['slug']!r}.",
            hint="Open the project's page to see its threads, or the inbox for every message.",
        )
    return row


async def _receipts(session: ReadTransaction, message_id: int) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(r.c.kind, _rcpt.c.name, r.c.read_ts, r.c.ack_ts)
            .join(_rcpt, _rcpt.c.id == r.c.agent_id)
            .where(r.c.message_id == message_id, r.c.kind != "bcc")
            .order_by(r.c.kind.desc(), _rcpt.c.name_key)
        )
    ).all()
    return [
        {"kind": kind, "name": name, "read_ts": iso(read) if read else None, "ack_ts": iso(ack) if ack else None}
        for kind, name, read, ack in rows
    ]


async def message_detail(project_key: str, message_id: int) -> dict[str, Any]:
    """Return one message of a project: body, to/cc with receipts, the bcc count, attachments and its thread."""

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, dict[int, Any], list[Any], list[Any]]:
        project = await resolve_project(session, project_key)
        row = await _message_row(session, project, message_id)
        recipients = await _visible_recipients(session, [message_id])
        thread_key = row["thread_id"] or str(row["id"])
        thread = (
            (
                await session.execute(
                    select(m.c.id, m.c.subject, m.c.created_ts, _sender.c.name.label("sender_name"))
                    .join(_sender, _sender.c.id == m.c.sender_id)
                    .where(in_thread(thread_key), in_project_scope(project["id"]))
                    .order_by(m.c.id)
                    .limit(THREAD_LIMIT)
                )
            )
            .mappings()
            .all()
        )
        return project, row, recipients, await _receipts(session, message_id), list(thread)

    project, row, recipients, receipts, thread = await run_read(read)
    item = _listed(row, recipients.get(row["id"], {}))
    item.update(
        body_md=row["body_md"],
        topic=row["topic"],
        attachments=list(row["attachments"] or []),
        receipts=receipts,
        project_slug=project["slug"],
        thread=[
            {
                "id": t["id"],
                "subject": t["subject"] or "(no subject)",
                "sender": t["sender_name"],
                "created_ts": iso(t["created_ts"]),
            }
            for t in thread
        ],
    )
    return item


async def thread_detail(project_key: str, thread_id: str, page: Page) -> dict[str, Any]:
    """Return a page of a thread's messages in a project, oldest first, with bodies and visible recipients."""
    key = check_thread_id(thread_id)
    if key is None:
        raise InvalidArgumentError("The thread id is empty.")

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping], dict[int, Any]]:
        project = await resolve_project(session, project_key)
        query = (
            select(*_LISTED, m.c.body_md, m.c.attachments)
            .select_from(m.join(_sender, _sender.c.id == m.c.sender_id).join(p, p.c.id == m.c.project_id))
            .where(in_thread(key), in_project_scope(project["id"]))
            .order_by(m.c.id)
            .offset(page.offset)
            .limit(page.size + 1)
        )
        rows = list((await session.execute(query)).mappings().all())
        return project, rows, await _visible_recipients(session, [row["id"] for row in rows[: page.size]])

    project, rows, recipients = await run_read(read)
    if not rows and page.number == 1:
        raise NotFoundError(f"Thread {key!r} has no messages in project {project['slug']!r}.")
    shown, more = paged(rows, page)
    messages = []
    for row in shown:
        item = _listed(row, recipients.get(row["id"], {}))
        item.update(body_md=row["body_md"], attachments=list(row["attachments"] or []))
        messages.append(item)
    subject = messages[0]["subject"] if messages else key
    return {
        "project": project["slug"],
        "thread_key": key,
        "subject": subject,
        "messages": messages,
        "page": page.number,
        "has_more": more,
    }


__all__ = [
    "InboxFilters",
    "agent_box",
    "message_detail",
    "project_threads",
    "thread_detail",
    "unified_inbox",
]
