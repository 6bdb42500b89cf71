"""Taking agents and projects out of service and back: retire, deregister, archive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, update

from mcp_agent_mail import archive
from mcp_agent_mail.db import WriteTransaction, run_write, schema
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.timeutil import iso, utcnow


async def _release_active_reservations(session: WriteTransaction, agent: RowMapping) -> int:
    """Release the agent's unreleased reservations (a retired agent holds no leases); return how many."""
    r = schema.file_reservations
    now = utcnow()
    ids = list(
        (
            await session.execute(
                r.select()
                .with_only_columns(r.c.id)
                .where(r.c.agent_id == agent["id"], r.c.released_ts.is_(None), r.c.expires_ts > now)
            )
        ).scalars()
    )
    if ids:
        await session.execute(update(r).where(r.c.id.in_(ids)).values(released_ts=now))
        await archive.enqueue_many(session, agent["project_id"], "reservation", ids)
    return len(ids)


async def _take_out_of_service(
    project_key: str, agent_name: str, *, block_all: bool
) -> tuple[RowMapping, RowMapping, int]:

    async def unit(session: WriteTransaction) -> tuple[RowMapping, RowMapping, int]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name)
        values: dict[str, Any] = {}
        if agent["retired_at"] is None:
            values["retired_at"] = utcnow()
        if block_all and agent["contact_policy"] != "block_all":
            values["contact_policy"] = "block_all"
        a = schema.agents
        if values:
            await session.execute(update(a).where(a.c.id == agent["id"]).values(**values))
            await archive.enqueue(session, project["id"], "agent", agent["id"])
        released = await _release_active_reservations(session, agent)
        agent = (await session.execute(a.select().where(a.c.id == agent["id"]))).mappings().one()
        return project, agent, released

    project, agent, released = await run_write(unit)
    archive.wake_writer()
    return project, agent, released


def _agent_result(status: str, project: RowMapping, agent: RowMapping, released: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": status,
        "agent_name": agent["name"],
        "project_key": project["human_key"],
        "retired_at": iso(agent["retired_at"]),
        "contact_policy": agent["contact_policy"],
    }
    if released:
        result["released_reservations"] = released
    return result


async def retire_agent(project_key: str, agent_name: str) -> dict[str, Any]:
    """Retire an agent: it can no longer send or receive mail and its active reservations are released."""
    project, agent, released = await _take_out_of_service(project_key, agent_name, block_all=False)
    return _agent_result("retired", project, agent, released)


async def deregister_agent(project_key: str, agent_name: str) -> dict[str, Any]:
    """Remove an agent from service: retired and blocking all mail; its history is kept."""
    project, agent, released = await _take_out_of_service(project_key, agent_name, block_all=True)
    return _agent_result("deregistered", project, agent, released)


async def unretire_agent(project_key: str, agent_name: str) -> dict[str, Any]:
    """Bring a retired (or deregistered) agent back into service; its contact policy is left as it is."""

    async def unit(session: WriteTransaction) -> tuple[RowMapping, RowMapping]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name)
        if agent["retired_at"] is not None:
            a = schema.agents
            await session.execute(update(a).where(a.c.id == agent["id"]).values(retired_at=None))
            await archive.enqueue(session, project["id"], "agent", agent["id"])
        return project, agent

    project, agent = await run_write(unit)
    archive.wake_writer()
    result: dict[str, Any] = {
        "status": "active",
        "agent_name": agent["name"],
        "project_key": project["human_key"],
        "contact_policy": agent["contact_policy"],
    }
    if agent["contact_policy"] == "block_all":
        result["note"] = "The agent still blocks all incoming mail; call set_contact_policy (e.g. auto) to accept mail."
    return result


async def _set_archived(project_key: str, archived: bool) -> dict[str, Any]:

    async def unit(session: WriteTransaction) -> RowMapping:
        project = await resolve_project(session, project_key)
        if (project["archived_at"] is not None) != archived:
            p = schema.projects
            value = utcnow() if archived else None
            await session.execute(update(p).where(p.c.id == project["id"]).values(archived_at=value))
            await archive.enqueue(session, project["id"], "project", project["id"])
            project = (await session.execute(p.select().where(p.c.id == project["id"]))).mappings().one()
        return project

    project = await run_write(unit)
    archive.wake_writer()
    result: dict[str, Any] = {
        "status": "archived" if archived else "active",
        "project_key": project["human_key"],
        "slug": project["slug"],
    }
    if project["archived_at"] is not None:
        result["archived_at"] = iso(project["archived_at"])
    return result


async def archive_project(project_key: str) -> dict[str, Any]:
    """Archive a project: it keeps its history but accepts no new mail, reservations or agents."""
    return await _set_archived(project_key, True)


async def unarchive_project(project_key: str) -> dict[str, Any]:
    """Make an archived project writable again."""
    return await _set_archived(project_key, False)
