"""Read-only views of a project's agents: the roster with unread counts, and what one agent may still do."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.db.shapes import agent_dict, project_dict
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project

a, r = schema.agents, schema.message_recipients


async def project_with_agents(project_key: str) -> dict[str, Any]:
    """Return a project (by slug or path) with all of its agents, retired ones included, by name."""

    async def read(session: ReadTransaction) -> dict[str, Any]:
        project = await resolve_project(session, project_key)
        rows = (
            await session.execute(select(a).where(a.c.project_id == project["id"]).order_by(a.c.name_key))
        ).mappings()
        result = project_dict(project)
        result["agents"] = [agent_dict(row) for row in rows]
        return result

    return await run_read(read)


async def agents_directory(project_key: str) -> dict[str, Any]:
    """Return the project's active agents (most recently active first, with unread counts) and its retired ones."""

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping]]:
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
        return project, list(rows)

    project, rows = await run_read(read)
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


async def agent_standing(project_key: str, agent_name: str) -> dict[str, Any]:
    """Return the project's path, the agent's name and why it may only read (project archived, agent retired)."""

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping]:
        project = await resolve_project(session, project_key)
        return project, await get_agent(session, project, agent_name, field="agent")

    project, agent = await run_read(read)
    reason = None
    if project["archived_at"] is not None:
        reason = "project archived"
    elif agent["retired_at"] is not None:
        reason = "agent retired"
    return {"project": project["human_key"], "agent": agent["name"], "read_only_reason": reason}
