"""Acknowledgements a project is still waiting for, across all its agents: for people overseeing the project.

The same filters as the per-agent views (``views/ack-required``, ``views/acks-stale`` and
``views/ack-overdue``), over every recipient in the project at once:

- ``stale``: waiting longer than ``ACK_TTL_SECONDS`` (as ``views/acks-stale``);
- ``overdue``: waiting longer than ``ttl_minutes`` (60 unless given; as ``views/ack-overdue``);
- ``all``: every acknowledgement still waiting (as ``views/ack-required``).

Oldest first. Rows of blind-copied recipients are left out, so a listing never reveals a bcc.
Reading changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.db.shapes import agent_label
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.timeutil import ensure_utc, iso, utcnow

STATES: tuple[str, ...] = ("stale", "overdue", "all")
DEFAULT_TTL_MINUTES = 60
MAX_TTL_MINUTES = 365 * 24 * 60
MAX_PAGE = 1000
MAX_PAGE_SIZE = 200

m, r, a, p = schema.messages, schema.message_recipients, schema.agents, schema.projects
_recipient = a.alias("recipient")
_sender = a.alias("sender")
_sender_project = p.alias("sender_project")


@dataclass
class AckBoard:
    """One page of waiting acknowledgements."""

    project: dict[str, Any]
    state: str
    threshold_seconds: int | None
    page: int
    page_size: int
    items: list[dict[str, Any]] = field(default_factory=list)
    has_next: bool = False
    total: int = 0


def _check_int(value: int, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be an integer from {low} to {high}; got {value!r}.")
    return value


def threshold(state: str, ttl_minutes: int | None) -> int | None:
    """Return the minimum wait in seconds for a state (None for ``all``); INVALID_ARGUMENT for a bad state."""
    if state not in STATES:
        raise InvalidArgumentError(f"state must be one of {', '.join(STATES)}; got {state!r}.")
    if state == "stale":
        return int(get_settings().ack_ttl_seconds)
    if state == "overdue":
        minutes = DEFAULT_TTL_MINUTES if ttl_minutes is None else ttl_minutes
        return 60 * _check_int(minutes, "ttl_minutes", 1, MAX_TTL_MINUTES)
    return None


def _item(row: RowMapping, project_id: int, now: datetime) -> dict[str, Any]:
    return {
        "message_id": row["id"],
        "subject": row["subject"],
        "importance": row["importance"],
        "thread_id": row["thread_id"],
        "created_ts": iso(row["created_ts"]),
        "age_seconds": max(0, int((now - ensure_utc(row["created_ts"])).total_seconds())),
        "from": agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], project_id),
        "recipient": row["recipient_name"],
        "kind": row["kind"],
        "read_ts": iso(row["read_ts"]),
    }


async def waiting_acks(
    project_key: str, *, state: str = "stale", ttl_minutes: int | None = None, page: int = 1, page_size: int = 50
) -> AckBoard:
    """Return one page of acknowledgements the project's agents still owe, oldest first."""
    seconds = threshold(state, ttl_minutes)
    _check_int(page, "page", 1, MAX_PAGE)
    _check_int(page_size, "page_size", 1, MAX_PAGE_SIZE)
    now = utcnow()

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping], int]:
        project = await resolve_project(session, project_key)
        conditions = [
            _recipient.c.project_id == project["id"],
            r.c.kind != "bcc",
            m.c.ack_required.is_(True),
            r.c.ack_ts.is_(None),
        ]
        if seconds is not None:
            conditions.append(m.c.created_ts <= now - timedelta(seconds=seconds))
        joined = (
            r.join(m, m.c.id == r.c.message_id)
            .join(_recipient, _recipient.c.id == r.c.agent_id)
            .join(_sender, _sender.c.id == m.c.sender_id)
            .join(_sender_project, _sender_project.c.id == _sender.c.project_id)
        )
        query = (
            select(
                m.c.id,
                m.c.subject,
                m.c.importance,
                m.c.thread_id,
                m.c.created_ts,
                r.c.kind,
                r.c.read_ts,
                _recipient.c.name.label("recipient_name"),
                _sender.c.name.label("sender_name"),
                _sender.c.project_id.label("sender_project_id"),
                _sender_project.c.slug.label("sender_slug"),
            )
            .select_from(joined)
            .where(*conditions)
            .order_by(m.c.created_ts, m.c.id, _recipient.c.name)
            .limit(page_size + 1)
            .offset((page - 1) * page_size)
        )
        rows = list((await session.execute(query)).mappings().all())
        total = (await session.execute(select(func.count()).select_from(joined).where(*conditions))).scalar()
        return project, rows, int(total or 0)

    project, rows, total = await run_read(read)
    return AckBoard(
        project={"slug": project["slug"], "human_key": project["human_key"]},
        state=state,
        threshold_seconds=seconds,
        page=page,
        page_size=page_size,
        items=[_item(row, project["id"], now) for row in rows[:page_size]],
        has_next=len(rows) > page_size,
        total=total,
    )


__all__ = ["STATES", "AckBoard", "threshold", "waiting_acks"]
