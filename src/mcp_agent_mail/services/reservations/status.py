"""A project's file reservations as people read them: active, expired or released, with staleness facts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.reservations import staleness
from mcp_agent_mail.services.reservations.leases import reservation_view
from mcp_agent_mail.timeutil import iso, utcnow

a, fr = schema.agents, schema.file_reservations


def _status(row: RowMapping, now: datetime) -> str:
    if row["released_ts"] is not None:
        return "released"
    return "active" if row["expires_ts"] > now else "expired"


async def reservation_statuses(project_key: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    """List the project's reservations, oldest first; active ones carry the staleness verdict. Changes nothing."""
    now = utcnow()

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping], dict[int, staleness.AgentActivity]]:
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
        return project, list(rows), activity

    project, rows, activity = await run_read(read)
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


async def _staleness_facts(
    human_key: str, pattern: str, activity: staleness.AgentActivity, now: datetime
) -> dict[str, Any]:
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
