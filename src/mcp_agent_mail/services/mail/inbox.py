"""The inbox: listing received mail and recording read and acknowledgement receipts."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, RowMapping, Select, bindparam, func, select, update

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.identity.project_agent import Row, project_and_agent
from mcp_agent_mail.services.identity.resolve import check_limit
from mcp_agent_mail.services.mail.drafts import check_topic
from mcp_agent_mail.services.mail.entries import message_entry
from mcp_agent_mail.services.mail.store import ensure_writable
from mcp_agent_mail.timeutil import iso, parse_timestamp, utcnow

URGENT_LEVELS = ("high", "urgent")


def since(since_ts: str | None) -> datetime | None:
    """Parse an optional ``since_ts`` filter (None when absent or blank)."""
    if since_ts is None or not since_ts.strip():
        return None
    return parse_timestamp(since_ts, field="since_ts")


async def fetch_inbox(
    project_key: str,
    agent_name: str,
    limit: int = 20,
    urgent_only: bool = False,
    include_bodies: bool = False,
    since_ts: str | None = None,
    topic: str | None = None,
    unread_only: bool = False,
) -> list[dict[str, Any]]:
    """Return the agent's received messages (of one topic, or unread only, if asked), newest first, unmarked."""
    check_limit(limit)
    after = since(since_ts)
    wanted = check_topic(topic)
    query = _inbox_query(
        bool(include_bodies), bool(urgent_only), after is not None, wanted is not None, bool(unread_only)
    )
    params: dict[str, Any] = {"limit": limit, "after": after}
    if wanted is not None:
        params["topic"] = wanted.lower()

    async def read(session: ReadTransaction) -> tuple[Row, list[RowMapping]]:
        project, agent = await project_and_agent(session, project_key, agent_name)
        params["agent_id"] = agent["id"]
        return project, list((await session.execute(query, params)).mappings().all())

    project, rows = await run_read(read, snapshot=False)
    return [message_entry(row, project["id"], body=include_bodies, receipt=True) for row in rows]


def received_mail(include_bodies: bool = False, receipts: Any = None) -> Select[Any]:
    """Return the statement listing the mail delivered to one agent (param ``agent_id``), with its receipt.

    ``receipts`` may stand in for that agent's ``message_recipients`` rows (a subquery with the
    same columns, already limited to the agent): only the messages it names are joined.
    """
    m, a, p = schema.messages, schema.agents, schema.projects
    r = schema.message_recipients if receipts is None else receipts
    columns = [
        m.c.id,
        m.c.project_id,
        m.c.sender_id,
        m.c.thread_id,
        m.c.topic,
        m.c.subject,
        m.c.importance,
        m.c.ack_required,
        m.c.created_ts,
        a.c.name.label("sender_name"),
        r.c.kind,
        r.c.read_ts,
        r.c.ack_ts,
        a.c.project_id.label("sender_project_id"),
        p.c.slug.label("sender_slug"),
    ]
    if include_bodies:
        columns.append(m.c.body_md)
    # Mail from another project is stored there; the recipient row alone puts it in this inbox.
    query = select(*columns).select_from(
        r.join(m, m.c.id == r.c.message_id).join(a, a.c.id == m.c.sender_id).join(p, p.c.id == a.c.project_id)
    )
    return query if receipts is not None else query.where(r.c.agent_id == bindparam("agent_id"))


def _newest_receipts(unread_only: bool) -> Any:
    """Return the agent's newest ``limit`` recipient rows as a subquery (params agent_id, limit)."""
    r = schema.message_recipients
    query = select(r.c.message_id, r.c.kind, r.c.read_ts, r.c.ack_ts).where(r.c.agent_id == bindparam("agent_id"))
    if unread_only:
        query = query.where(r.c.read_ts.is_(None))
    return query.order_by(r.c.message_id.desc()).limit(bindparam("limit", type_=Integer)).subquery("receipts")


@lru_cache(maxsize=32)
def _inbox_query(
    include_bodies: bool, urgent_only: bool, has_since: bool, has_topic: bool = False, unread_only: bool = False
) -> Select[Any]:
    """Return the prepared inbox statement for one combination of options (params agent_id, after, topic, limit)."""
    m, r = schema.messages, schema.message_recipients
    if not (urgent_only or has_since or has_topic):
        # Limit the agent's receipts first, then join only those messages: the cost stays that of
        # the page, whatever the inbox's size and whatever the planner's statistics say about it.
        receipts = _newest_receipts(unread_only)
        newest = received_mail(include_bodies, receipts)
        return newest.order_by(receipts.c.message_id.desc())
    query = received_mail(include_bodies)
    if urgent_only:
        query = query.where(m.c.importance.in_(URGENT_LEVELS))
    if has_since:
        query = query.where(m.c.created_ts > bindparam("after", type_=m.c.created_ts.type))
    if has_topic:
        query = query.where(func.lower(m.c.topic) == bindparam("topic"))
    if unread_only:
        query = query.where(r.c.read_ts.is_(None))
    # Ids grow with time, so the (agent_id, message_id) index yields newest first without a sort.
    return query.order_by(r.c.message_id.desc()).limit(bindparam("limit", type_=Integer))


_m, _r = schema.messages, schema.message_recipients
_RECEIPT = (
    select(_r.c.read_ts, _r.c.ack_ts, _m.c.project_id)
    .join(_m, _m.c.id == _r.c.message_id)
    .where(_r.c.message_id == bindparam("message_id"), _r.c.agent_id == bindparam("agent_id"))
)
_SET_RECEIPT = (
    update(_r)
    .where(_r.c.message_id == bindparam("mid"), _r.c.agent_id == bindparam("aid"))
    .values(read_ts=bindparam("read"), ack_ts=bindparam("ack"))
)


async def _receipt_row(session: ReadTransaction, agent: Row, message_id: int) -> RowMapping:
    row = (await session.execute(_RECEIPT, {"message_id": message_id, "agent_id": agent["id"]})).mappings().first()
    if row is None:
        raise NotFoundError(
            f"Message {message_id} is not in the inbox of {agent['name']}.",
            hint="Only recipients (to, cc or bcc) can mark a message; fetch_inbox lists the message ids.",
        )
    return row


async def _set_receipt(project_key: str, agent_name: str, message_id: int, *, ack: bool) -> dict[str, Any]:
    async def unit(session: WriteTransaction) -> tuple[bool, datetime, datetime | None]:
        project, agent = await project_and_agent(session, project_key, agent_name)
        row = await _receipt_row(session, agent, message_id)
        read_ts, ack_ts = row["read_ts"], row["ack_ts"]
        now = utcnow()
        changed = read_ts is None or (ack and ack_ts is None)
        if read_ts is None:
            read_ts = now
        if ack and ack_ts is None:
            ack_ts = now
        if changed:
            ensure_writable(cast(RowMapping, project))
            params = {"mid": message_id, "aid": agent["id"], "read": read_ts, "ack": ack_ts}
            await session.execute(_SET_RECEIPT, params)
            await archive.enqueue(session, row["project_id"], "receipt", message_id)
        return changed, read_ts, ack_ts

    changed, read_ts, ack_ts = await run_write(unit)
    if changed:
        archive.wake_writer()
    result: dict[str, Any] = {"message_id": message_id}
    if ack:
        result.update(acknowledged=True, acknowledged_at=iso(ack_ts), read_at=iso(read_ts))
    else:
        result.update(read=True, read_at=iso(read_ts))
    return result


async def mark_message_read(project_key: str, agent_name: str, message_id: int) -> dict[str, Any]:
    """Record that a recipient read a message (once; later calls return the first time)."""
    return await _set_receipt(project_key, agent_name, message_id, ack=False)


async def acknowledge_message(project_key: str, agent_name: str, message_id: int) -> dict[str, Any]:
    """Record a recipient's acknowledgement (and its read receipt if missing); idempotent."""
    return await _set_receipt(project_key, agent_name, message_id, ack=True)
