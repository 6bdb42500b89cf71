"""Summaries of threads and of recent activity, scoped to what the viewer may see.

With ``agent_name`` only the messages that agent sent or received (to, cc or bcc)
are read; without it the project's mail is (stored in it, or delivered into it
from another project). Summaries name senders and to/cc
recipients but never bcc lists. ``summarize_recent`` stores its result (with the
viewer it was made for) so that ``fetch_summary`` can list it later, in the same
scope only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, func, select

from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.identity.resolve import check_limit, resolve_project
from mcp_agent_mail.services.mail.drafts import check_thread_id
from mcp_agent_mail.services.mail.messages import in_thread
from mcp_agent_mail.services.mail.visibility import viewer_row, viewer_scope
from mcp_agent_mail.services.summaries.extract import MailItem, combine, summarize
from mcp_agent_mail.services.summaries.llm_summary import refine
from mcp_agent_mail.timeutil import iso, utcnow

MAX_HOURS = 24 * 365
MAX_THREADS = 50
EXAMPLES = 3


def check_hours(value: float, *, field: str = "since_hours") -> float:
    """Validate a look-back window in hours: more than 0, at most one year."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{field} must be a number of hours; got {value!r}.")
    if value <= 0 or value > MAX_HOURS:
        raise InvalidArgumentError(
            f"{field} must be more than 0 and at most {MAX_HOURS} (one year); got {value!r}.",
            hint="Use e.g. 24 for the last day.",
        )
    return float(value)


def _thread_ids(value: str) -> list[str]:
    raw = value if isinstance(value, str) else ""
    ids: list[str] = []
    for part in raw.split(","):
        cleaned = check_thread_id(part)
        if cleaned is not None and cleaned not in ids:
            ids.append(cleaned)
    if not ids:
        raise InvalidArgumentError(
            "thread_id is empty.",
            hint="Pass a thread id (e.g. FEAT-12 or a message id), or several separated by commas.",
        )
    if len(ids) > MAX_THREADS:
        raise InvalidArgumentError(f"At most {MAX_THREADS} threads can be summarised at once; got {len(ids)}.")
    return ids


async def _known_agents(session: ReadTransaction, project_id: int) -> dict[str, str]:
    a = schema.agents
    names = (await session.execute(select(a.c.name).where(a.c.project_id == project_id))).scalars()
    return {name_key(n): n for n in names}


async def _recipients(session: ReadTransaction, project_id: int, ids: list[int]) -> dict[int, list[str]]:
    """Return the to/cc recipient labels of each message (bcc recipients are never read)."""
    r, a, p = schema.message_recipients, schema.agents, schema.projects
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(r.c.message_id, a.c.name, a.c.project_id, p.c.slug)
            .join(a, a.c.id == r.c.agent_id)
            .join(p, p.c.id == a.c.project_id)
            .where(r.c.message_id.in_(ids[start : start + 500]), r.c.kind.in_(("to", "cc")))
        )
        for message_id, name, agent_project, slug in rows:
            found.setdefault(message_id, []).append(name if agent_project == project_id else f"{name}@{slug}")
    return found


async def load_messages(
    session: ReadTransaction,
    project: RowMapping,
    viewer: RowMapping | None,
    condition: ColumnElement[bool],
    limit: int,
) -> tuple[list[MailItem], bool]:
    """Return the latest ``limit`` visible messages matching ``condition`` (oldest first) and whether more exist."""
    m, a, p = schema.messages, schema.agents, schema.projects
    query = (
        select(
            m.c.id,
            m.c.thread_id,
            m.c.subject,
            m.c.body_md,
            m.c.created_ts,
            a.c.name.label("sender"),
            a.c.project_id.label("sender_project"),
            p.c.slug.label("sender_slug"),
        )
        .join(a, a.c.id == m.c.sender_id)
        .join(p, p.c.id == a.c.project_id)
        .where(viewer_scope(project, viewer), condition)
    )
    query = query.order_by(m.c.created_ts.desc(), m.c.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).mappings().all())
    truncated = len(rows) > limit
    rows = rows[:limit][::-1]
    recipients = await _recipients(session, project["id"], [row["id"] for row in rows])
    items = [
        MailItem(
            id=row["id"],
            thread_key=row["thread_id"] or str(row["id"]),
            sender=row["sender"] if row["sender_project"] == project["id"] else f"{row['sender']}@{row['sender_slug']}",
            subject=row["subject"],
            body_md=row["body_md"],
            created_ts=row["created_ts"],
            recipients=tuple(recipients.get(row["id"], ())),
        )
        for row in rows
    ]
    return items, truncated


async def _count(
    session: ReadTransaction, project: RowMapping, viewer: RowMapping | None, condition: ColumnElement[bool]
) -> int:
    m = schema.messages
    query = select(func.count()).select_from(m).where(viewer_scope(project, viewer), condition)
    return int((await session.execute(query)).scalar_one())


def _examples(items: Sequence[MailItem]) -> list[dict[str, Any]]:
    return [
        {"id": m.id, "subject": m.subject, "from": m.sender, "created_ts": iso(m.created_ts)} for m in items[:EXAMPLES]
    ]


def _thread_summary(items: list[MailItem], total: int, known: dict[str, str]) -> dict[str, Any]:
    summary = summarize(items, known)
    if total > len(items):
        summary["total_messages"] = total
        summary["summarized_messages"] = len(items)
        summary["truncated"] = True
    return summary


async def summarize_thread(
    project_key: str,
    thread_id: str,
    include_examples: bool = False,
    llm_mode: bool = False,
    llm_model: str | None = None,
    per_thread_limit: int = 50,
    agent_name: str | None = None,
) -> dict[str, Any]:
    """Summarise one thread, or several (comma-separated ids) with an aggregate, from the viewer's messages."""
    ids = _thread_ids(thread_id)
    check_limit(per_thread_limit, field="per_thread_limit")
    found: list[tuple[str, list[MailItem], dict[str, Any]]] = []
    missing: list[str] = []

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping | None]:
        project = await resolve_project(session, project_key)
        viewer = await viewer_row(session, project, agent_name)
        known = await _known_agents(session, project["id"])
        for tid in ids:
            items, truncated = await load_messages(session, project, viewer, in_thread(tid), per_thread_limit)
            if not items:
                missing.append(tid)
                continue
            total = await _count(session, project, viewer, in_thread(tid)) if truncated else len(items)
            found.append((tid, items, _thread_summary(items, total, known)))
        return project, viewer

    project, viewer = await run_read(read)
    if not found:
        who = f" visible to {viewer['name']}" if viewer is not None else ""
        raise NotFoundError(
            f"No message{who} in thread(s) {', '.join(ids)} of project {project['slug']!r}.",
            hint="Thread ids come from send_message/reply_message (thread_id, or the first message's id); "
            "fetch_inbox and search_messages show them.",
            data={"missing_thread_ids": missing},
        )
    if len(ids) == 1:
        tid, items, summary = found[0]
        result: dict[str, Any] = {"thread_id": tid, "summary": await refine(summary, items, llm_mode, llm_model)}
        if include_examples:
            result["examples"] = _examples(items)
        return result
    every = [m for _, items, _ in found for m in items]
    aggregate = await refine(combine([s for _, _, s in found]), every, llm_mode, llm_model)
    threads = []
    for tid, items, summary in found:
        entry: dict[str, Any] = {"thread_id": tid, "summary": summary}
        if include_examples:
            entry["examples"] = _examples(items)
        threads.append(entry)
    multi: dict[str, Any] = {"threads": threads, "aggregate": aggregate}
    if missing:
        multi["missing_thread_ids"] = missing
    return multi


def _stored(row: RowMapping) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": row["id"],
        "summary": json.loads(row["summary_json"]),
        "start_ts": iso(row["start_ts"]),
        "end_ts": iso(row["end_ts"]),
        "source_message_count": row["source_message_count"],
        "source_thread_ids": list(row["source_thread_ids"] or []),
    }
    if row["llm_model"]:
        result["llm_model"] = row["llm_model"]
    result["created_ts"] = iso(row["created_ts"])
    return result


async def _store(
    project_key: str,
    viewer_id: int | None,
    summary: dict[str, Any],
    start: datetime,
    end: datetime,
    count: int,
    threads: list[str],
    llm_model: str | None,
) -> RowMapping:
    s = schema.message_summaries

    async def unit(session: WriteTransaction) -> RowMapping:
        project = await resolve_project(session, project_key)
        row_id = (
            await session.execute(
                s.insert()
                .values(
                    project_id=project["id"],
                    viewer_agent_id=viewer_id,
                    summary_json=json.dumps(summary, ensure_ascii=False),
                    start_ts=start,
                    end_ts=end,
                    source_message_count=count,
                    source_thread_ids=threads,
                    llm_model=llm_model,
                    created_ts=utcnow(),
                )
                .returning(s.c.id)
            )
        ).scalar_one()
        return (await session.execute(select(s).where(s.c.id == row_id))).mappings().one()

    return await run_write(unit)


async def summarize_recent(
    project_key: str,
    since_hours: float = 24.0,
    max_messages: int = 500,
    agent_name: str | None = None,
    llm_mode: bool = False,
    llm_model: str | None = None,
) -> dict[str, Any]:
    """Summarise the project's recent messages (the viewer's only, when named) and store the summary."""
    hours = check_hours(since_hours)
    check_limit(max_messages, field="max_messages")
    end = utcnow()
    start = end - timedelta(hours=hours)

    async def read(session: ReadTransaction) -> tuple[RowMapping | None, dict[str, str], list[MailItem], bool]:
        project = await resolve_project(session, project_key)
        viewer = await viewer_row(session, project, agent_name)
        known = await _known_agents(session, project["id"])
        items, truncated = await load_messages(
            session, project, viewer, schema.messages.c.created_ts >= start, max_messages
        )
        return viewer, known, items, truncated

    viewer, known, items, truncated = await run_read(read)
    scope = {"agent_name": viewer["name"]} if viewer is not None else {}
    if not items:
        return {
            "summary": summarize([]),
            "start_ts": iso(start),
            "end_ts": iso(end),
            "source_message_count": 0,
            "source_thread_ids": [],
            **scope,
        }
    threads = sorted({m.thread_key for m in items})
    summary = summarize(items, known)
    summary["total_threads"] = len(threads)
    if truncated:
        summary["truncated"] = True
        summary["truncation_note"] = f"Only the {max_messages} most recent messages of the window were summarised."
    summary = await refine(summary, items, llm_mode, llm_model)
    row = await _store(
        project_key,
        viewer["id"] if viewer is not None else None,
        summary,
        start,
        end,
        len(items),
        threads,
        summary.get("llm_model"),
    )
    return {**_stored(row), **scope}


async def fetch_summary(
    project_key: str, since_hours: float = 24.0, limit: int = 5, agent_name: str | None = None
) -> list[dict[str, Any]]:
    """Return stored summaries whose window ended within ``since_hours``, newest first, of the same scope."""
    hours = check_hours(since_hours)
    check_limit(limit)
    s = schema.message_summaries

    async def read(session: ReadTransaction) -> list[dict[str, Any]]:
        project = await resolve_project(session, project_key)
        viewer = await viewer_row(session, project, agent_name)
        scope = s.c.viewer_agent_id.is_(None) if viewer is None else s.c.viewer_agent_id == viewer["id"]
        rows = await session.execute(
            select(s)
            .where(s.c.project_id == project["id"], scope, s.c.end_ts >= utcnow() - timedelta(hours=hours))
            .order_by(s.c.created_ts.desc(), s.c.id.desc())
            .limit(limit)
        )
        return [_stored(row) for row in rows.mappings().all()]

    return await run_read(read)
