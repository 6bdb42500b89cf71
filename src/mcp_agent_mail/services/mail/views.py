"""Read-only views of an agent's mail: inbox, outbox, mailbox, attention views, threads and single messages.

Nothing here writes: no receipts, no sweeps, no archive work. Every filter runs
in SQL before the limit, so a view returns up to ``limit`` matching messages.
A viewer sees ``bcc`` recipients only of messages it sent.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, exists, select

from mcp_agent_mail.archive import commits, paths
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.db.shapes import agent_label
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.resolve import check_limit, get_agent, resolve_project
from mcp_agent_mail.services.mail import inbox
from mcp_agent_mail.services.mail.drafts import check_thread_id
from mcp_agent_mail.services.mail.entries import message_entry
from mcp_agent_mail.services.mail.messages import in_thread, visible_message
from mcp_agent_mail.timeutil import ensure_utc, iso, utcnow

m, r, a, p = schema.messages, schema.message_recipients, schema.agents, schema.projects
_sender = a.alias("sender")
_sender_project = p.alias("sender_project")
_message_project = p.alias("message_project")

_BASE_COLUMNS = (
    m.c.id,
    m.c.project_id,
    m.c.sender_id,
    m.c.thread_id,
    m.c.topic,
    m.c.subject,
    m.c.importance,
    m.c.ack_required,
    m.c.created_ts,
    m.c.attachments,
    _sender.c.name.label("sender_name"),
    _sender.c.project_id.label("sender_project_id"),
    _sender_project.c.slug.label("sender_slug"),
    _message_project.c.slug.label("message_slug"),
)


def _joined(base: Any) -> Any:
    """Join a FROM clause containing ``messages`` with the sender, its project and the message's project."""
    return (
        base.join(_sender, _sender.c.id == m.c.sender_id)
        .join(_sender_project, _sender_project.c.id == _sender.c.project_id)
        .join(_message_project, _message_project.c.id == m.c.project_id)
    )


async def owner(session: ReadTransaction, project_key: str, agent_name: str) -> tuple[RowMapping, RowMapping]:
    """Resolve a mailbox owner: the project and the agent (NOT_FOUND when either is unknown)."""
    project = await resolve_project(session, project_key)
    return project, await get_agent(session, project, agent_name)


def _payload(project: RowMapping, agent: RowMapping, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"project": project["human_key"], "agent": agent["name"], **extra, "count": len(items), "messages": items}


async def _recipient_lists(session: ReadTransaction, message_ids: list[int]) -> dict[int, list[tuple[str, str, int]]]:
    """Return ``message_id -> [(kind, label, agent_id)]`` (label ``name@slug`` for another project's agent)."""
    if not message_ids:
        return {}
    rows = (
        await session.execute(
            select(r.c.message_id, r.c.kind, r.c.agent_id, a.c.name, a.c.project_id, p.c.slug, m.c.project_id)
            .join(a, a.c.id == r.c.agent_id)
            .join(p, p.c.id == a.c.project_id)
            .join(m, m.c.id == r.c.message_id)
            .where(r.c.message_id.in_(message_ids))
            .order_by(r.c.message_id, a.c.name)
        )
    ).all()
    found: dict[int, list[tuple[str, str, int]]] = {}
    for message_id, kind, agent_id, name, agent_project, slug, message_project in rows:
        label = agent_label(name, agent_project, slug, message_project)
        found.setdefault(message_id, []).append((kind, label, agent_id))
    return found


def _add_recipients(item: dict[str, Any], recipients: list[tuple[str, str, int]], viewer_id: int | None) -> None:
    """Attach to/cc (and bcc when the viewer sent the message), and the viewer's own ``kind``."""
    show_bcc = item["sender_id"] == viewer_id
    for kind in ("to", "cc", "bcc"):
        names = [label for k, label, _ in recipients if k == kind]
        if names and (kind != "bcc" or show_bcc):
            item[kind] = names
    own = [k for k, _, agent_id in recipients if agent_id == viewer_id]
    if own:
        item["kind"] = own[0]


# ---------------------------------------------------------------------------
# Received mail


async def inbox_view(
    project_key: str,
    agent_name: str,
    *,
    limit: int,
    urgent_only: bool,
    include_bodies: bool,
    since_ts: str | None,
    unread_only: bool = False,
) -> dict[str, Any]:
    """Return ``{project, agent, count, messages}`` of the agent's received mail, newest first."""
    project, agent = await run_read(lambda session: owner(session, project_key, agent_name))
    items = await inbox.fetch_inbox(
        project["human_key"],
        agent["name"],
        limit=limit,
        urgent_only=urgent_only,
        include_bodies=include_bodies,
        since_ts=since_ts,
        unread_only=unread_only,
    )
    return _payload(project, agent, items)


async def _received(
    session: ReadTransaction,
    agent: RowMapping,
    conditions: list[ColumnElement[bool]],
    *,
    limit: int,
    oldest_first: bool = False,
) -> list[RowMapping]:
    """Return the agent's recipient rows joined with their messages, filtered in SQL, then limited."""
    query = (
        select(*_BASE_COLUMNS, r.c.kind, r.c.read_ts, r.c.ack_ts)
        .select_from(_joined(r.join(m, m.c.id == r.c.message_id)))
        .where(r.c.agent_id == agent["id"], *conditions)
    )
    order = r.c.message_id.asc() if oldest_first else r.c.message_id.desc()
    return list((await session.execute(query.order_by(order).limit(limit))).mappings().all())


def _received_item(row: RowMapping, project_id: int) -> dict[str, Any]:
    return message_entry(row, project_id, body=False, attachments=True, receipt=True)


async def mailbox_view(project_key: str, agent_name: str, *, limit: int, with_commits: bool) -> dict[str, Any]:
    """Return the latest received messages without bodies; with commits, each gains the archive commit that added it."""
    check_limit(limit)

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, list[RowMapping]]:
        project, agent = await owner(session, project_key, agent_name)
        rows = await _received(session, agent, [], limit=limit)
        return project, agent, rows

    project, agent, rows = await run_read(read)
    items = [_received_item(row, project["id"]) for row in rows]
    if with_commits and rows:
        wanted = {
            row["id"]: paths.canonical_message_file(row["message_slug"], row["created_ts"], row["subject"], row["id"])
            for row in rows
        }
        root = Path(get_settings().storage.root)
        found = await asyncio.to_thread(commits.adding_commits, root, wanted)
        for item in items:
            if item["id"] in found:
                item["commit"] = found[item["id"]]
    return _payload(project, agent, items)


_URGENT = m.c.importance.in_(inbox.URGENT_LEVELS)
_ACK_PENDING = (m.c.ack_required.is_(True)) & (r.c.ack_ts.is_(None))


async def urgent_unread(project_key: str, agent_name: str, *, limit: int) -> dict[str, Any]:
    """Return unread high/urgent messages, newest first."""
    check_limit(limit)

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, list[RowMapping]]:
        project, agent = await owner(session, project_key, agent_name)
        rows = await _received(session, agent, [_URGENT, r.c.read_ts.is_(None)], limit=limit)
        return project, agent, rows

    project, agent, rows = await run_read(read)
    return _payload(project, agent, [_received_item(row, project["id"]) for row in rows])


async def ack_required(project_key: str, agent_name: str, *, limit: int) -> dict[str, Any]:
    """Return messages waiting for the agent's acknowledgement, newest first."""
    check_limit(limit)

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, list[RowMapping]]:
        project, agent = await owner(session, project_key, agent_name)
        rows = await _received(session, agent, [_ACK_PENDING], limit=limit)
        return project, agent, rows

    project, agent, rows = await run_read(read)
    return _payload(project, agent, [_received_item(row, project["id"]) for row in rows])


def _age_seconds(created: datetime, now: datetime) -> int:
    return max(0, int((now - ensure_utc(created)).total_seconds()))


async def acks_stale(
    project_key: str, agent_name: str, *, ttl_seconds: int | None = None, limit: int = 20
) -> dict[str, Any]:
    """Return unacknowledged messages older than ``ttl_seconds`` (ACK_TTL_SECONDS), oldest first, with their age."""
    check_limit(limit)
    if ttl_seconds is None:
        ttl_seconds = get_settings().ack_ttl_seconds
    _check_positive(ttl_seconds, "ttl_seconds")
    return await _unacknowledged_older_than(
        project_key, agent_name, timedelta(seconds=ttl_seconds), limit, ttl_seconds=ttl_seconds
    )


async def ack_overdue(project_key: str, agent_name: str, *, ttl_minutes: int, limit: int) -> dict[str, Any]:
    """Return unacknowledged messages older than ``ttl_minutes``, oldest first."""
    check_limit(limit)
    _check_positive(ttl_minutes, "ttl_minutes")
    return await _unacknowledged_older_than(
        project_key, agent_name, timedelta(minutes=ttl_minutes), limit, ttl_minutes=ttl_minutes
    )


async def _unacknowledged_older_than(
    project_key: str, agent_name: str, age: timedelta, limit: int, **window: int
) -> dict[str, Any]:
    now = utcnow()

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, list[RowMapping]]:
        project, agent = await owner(session, project_key, agent_name)
        rows = await _received(
            session, agent, [_ACK_PENDING, m.c.created_ts <= now - age], limit=limit, oldest_first=True
        )
        return project, agent, rows

    project, agent, rows = await run_read(read)
    items = []
    for row in rows:
        item = _received_item(row, project["id"])
        item["age_seconds"] = _age_seconds(row["created_ts"], now)
        items.append(item)
    return _payload(project, agent, items, **window)


def _check_positive(value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{field} must be a positive integer; got {value!r}.")


# ---------------------------------------------------------------------------
# Sent mail, threads and single messages


async def outbox_view(
    project_key: str, agent_name: str, *, limit: int, include_bodies: bool, since_ts: str | None
) -> dict[str, Any]:
    """Return messages the agent sent, newest first, each with its to/cc/bcc recipients."""
    check_limit(limit)
    after = inbox.since(since_ts)
    columns = [*_BASE_COLUMNS, m.c.body_md] if include_bodies else list(_BASE_COLUMNS)

    async def read(
        session: ReadTransaction,
    ) -> tuple[RowMapping, RowMapping, list[RowMapping], dict[int, list[tuple[str, str, int]]]]:
        project, agent = await owner(session, project_key, agent_name)
        query = select(*columns).select_from(_joined(m)).where(m.c.sender_id == agent["id"])
        if after is not None:
            query = query.where(m.c.created_ts > after)
        rows = (await session.execute(query.order_by(m.c.id.desc()).limit(limit))).mappings().all()
        recipients = await _recipient_lists(session, [row["id"] for row in rows])
        return project, agent, list(rows), recipients

    project, agent, rows, recipients = await run_read(read)
    items = []
    for row in rows:
        item = message_entry(row, project["id"], body=include_bodies, attachments=True)
        _add_recipients(item, recipients.get(row["id"], []), agent["id"])
        items.append(item)
    return _payload(project, agent, items)


def _visible_to(viewer_id: int) -> ColumnElement[bool]:
    received = exists().where(r.c.message_id == m.c.id, r.c.agent_id == viewer_id)
    return (m.c.sender_id == viewer_id) | received


def _viewer_id(viewer: RowMapping | None) -> int | None:
    return None if viewer is None else int(viewer["id"])


def _visible(project: RowMapping, viewer: RowMapping | None) -> ColumnElement[bool]:
    """Messages the viewer sent or received; with no viewer, the project's own messages."""
    return m.c.project_id == project["id"] if viewer is None else _visible_to(viewer["id"])


async def thread_view(
    project: RowMapping, viewer: RowMapping | None, thread_id: str, *, include_bodies: bool, limit: int
) -> dict[str, Any]:
    """Return the messages of a thread the viewer sent or received (no viewer: all of the project's), oldest first."""
    key = check_thread_id(thread_id)
    if key is None:
        raise InvalidArgumentError(
            "thread_id is empty.", hint="Pass a thread id or the id of the thread's first message."
        )
    check_limit(limit)
    columns = [*_BASE_COLUMNS, m.c.body_md] if include_bodies else list(_BASE_COLUMNS)

    async def read(session: ReadTransaction) -> tuple[list[RowMapping], dict[int, list[tuple[str, str, int]]]]:
        query = select(*columns).select_from(_joined(m)).where(in_thread(key), _visible(project, viewer))
        rows = (await session.execute(query.order_by(m.c.id).limit(limit))).mappings().all()
        recipients = await _recipient_lists(session, [row["id"] for row in rows])
        return list(rows), recipients

    rows, recipients = await run_read(read)
    items = []
    for row in rows:
        item = message_entry(row, project["id"], body=include_bodies, attachments=True)
        _add_recipients(item, recipients.get(row["id"], []), _viewer_id(viewer))
        items.append(item)
    return {
        "project": project["human_key"],
        "thread_id": key,
        "viewer": None if viewer is None else viewer["name"],
        "count": len(items),
        "messages": items,
    }


async def message_view(project: RowMapping, viewer: RowMapping | None, message_id: int) -> dict[str, Any]:
    """Return one message the viewer sent or received (no viewer: one of the project's), with body and recipients.

    Only the sender sees the ``bcc`` list; an anonymous reader never does.
    """

    async def read(session: ReadTransaction) -> tuple[RowMapping, dict[int, list[tuple[str, str, int]]], int, Any]:
        wanted = message_id if viewer is None else (await visible_message(session, viewer, message_id))["id"]
        query = select(*_BASE_COLUMNS, m.c.body_md).select_from(_joined(m)).where(m.c.id == wanted)
        if viewer is None:
            query = query.where(m.c.project_id == project["id"])
        row = (await session.execute(query)).mappings().first()
        if row is None:
            raise NotFoundError(
                f"Message {wanted} not found in project {project['slug']!r}.",
                hint="List the project's mail with fetch_inbox or search_messages to find a message id.",
            )
        recipients = await _recipient_lists(session, [wanted])
        receipt = None
        if viewer is not None:
            receipt = (
                await session.execute(
                    select(r.c.read_ts, r.c.ack_ts).where(r.c.message_id == wanted, r.c.agent_id == viewer["id"])
                )
            ).first()
        return row, recipients, wanted, receipt

    row, recipients, message_id, receipt = await run_read(read)
    item = message_entry(row, project["id"], body=True, attachments=True)
    _add_recipients(item, recipients.get(message_id, []), _viewer_id(viewer))
    if receipt is not None:
        if receipt[0] is not None:
            item["read_ts"] = iso(receipt[0])
        if receipt[1] is not None:
            item["ack_ts"] = iso(receipt[1])
    return item
