"""Read-only directory views: a project's agents with unread counts, and its reservations with staleness facts."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from mcp_agent_mail.db import get_session, schema
from mcp_agent_mail.db.shapes import agent_dict, project_dict
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.reservations.leases import reservation_view, staleness
from mcp_agent_mail.timeutil import iso, utcnow

a, r, fr = schema.agents, schema.message_recipients, schema.file_reservations


async def project_with_agents(project_key: str) -> dict[str, Any]:
    """Return a project (by slug or path) with all of its agents, retired ones included, by name."""
    async with get_session() as session:
        project = await resolve_project(session, project_key)
        rows = (
            await session.execute(select(a).where(a.c.project_id == project["id"]).order_by(a.c.name_key))
        ).mappings()
        result = project_dict(project)
        result["agents"] = [agent_dict(row) for row in rows]
    return result


async def agents_directory(project_key: str) -> dict[str, Any]:
    """Return the project's active agents (most recently active first, with unread counts) and its retired ones."""
    async with get_session() as session:
        project = await resolve_project(session, project_key)
        unread = (
            select(r.c.agent_id, func.count().label("unread"))
            .where(r.c.read_ts.is_(None))
            .group_by(r.c.agent_id)
            .subquery()
        )
        rows = (
            (
                await session.execute(
                    select(a, func.coalesce(unread.c.unread, 0).label("unread_count"))
                    .outerjoin(unread, unread.c.agent_id == a.c.id)
                    .where(a.c.project_id == project["id"])
                    .order_by(a.c.last_active_ts.desc(), a.c.name_key)
                )
            )
            .mappings()
            .all()
        )
    active: list[dict[str, Any]] = []
    retired: list[dict[str, Any]] = []
    for row in rows:
        item = agent_dict(row)
        item["unread_count"] = int(row["unread_count"])
        (retired if row["retired_at"] is not None else active).append(item)
    result: dict[str, Any] = {
        "project": {"slug": project["slug"], "human_key": project["human_key"]},
        "agents": active,
    }
    if retired:
        result["retired_agents"] = retired
    return result


def _status(row: Any, now: Any) -> str:
    if row["released_ts"] is not None:
        return "released"
    return "active" if row["expires_ts"] > now else "expired"


async def reservation_statuses(project_key: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    """List the project's reservations, oldest first; active ones carry the staleness verdict. Changes nothing."""
    now = utcnow()
    async with get_session() as session:
        project = await resolve_project(session, project_key)
        query = (
            select(fr, a.c.name.label("agent"))
            .join(a, a.c.id == fr.c.agent_id)
            .where(fr.c.project_id == project["id"])
            .order_by(fr.c.created_ts, fr.c.id)
        )
        if active_only:
            query = query.where(fr.c.released_ts.is_(None), fr.c.expires_ts > now)
        rows = (await session.execute(query)).mappings().all()
        holder_ids = {row["agent_id"] for row in rows if _status(row, now) == "active"}
        holders = (await session.execute(select(a).where(a.c.id.in_(holder_ids)))).mappings().all()
        activity = {h["id"]: await staleness.agent_activity(session, h) for h in holders}
    items = []
    for row in rows:
        item = reservation_view(row)
        item["status"] = _status(row, now)
        if item["status"] == "active":
            holder = activity[row["agent_id"]]
            item.update(await _staleness_facts(project["human_key"], row["path_pattern"], holder, now))
        if not item["reason"]:
            del item["reason"]
        items.append(item)
    return items


async def _staleness_facts(human_key: str, pattern: str, activity: staleness.AgentActivity, now: Any) -> dict[str, Any]:
    """Judge one active reservation; the workspace is inspected only when the cheap signals say stale."""
    verdict = staleness.judge(activity, None, now)
    if verdict.stale:
        workspace = await asyncio.to_thread(staleness.workspace_activity, human_key, pattern, now)
        verdict = staleness.judge(activity, workspace, now)
    facts: dict[str, Any] = {"stale": verdict.stale, "stale_reasons": verdict.reasons}
    evidence = {
        "last_agent_activity_ts": verdict.last_agent_activity,
        "last_mail_activity_ts": verdict.last_mail_activity,
        "last_filesystem_activity_ts": verdict.last_filesystem_activity,
        "last_git_activity_ts": verdict.last_git_activity,
    }
    facts.update({key: iso(value) for key, value in evidence.items() if value is not None})
    return facts
