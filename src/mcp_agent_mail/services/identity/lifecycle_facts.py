"""What retiring an agent or archiving a project would touch, for the person about to confirm it. Changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.timeutil import iso, utcnow

a, fr = schema.agents, schema.file_reservations
MAX_PATTERNS_SHOWN = 20


def _project(row: Any) -> dict[str, Any]:
    return {
        "project_key": row["human_key"],
        "slug": row["slug"],
        "archived_at": iso(row["archived_at"]) if row["archived_at"] is not None else None,
    }


async def agent_lifecycle_facts(project_key: str, agent_name: str) -> dict[str, Any]:
    """Return the project, the agent's standing and its active reservations (the ones retiring releases)."""
    now = utcnow()

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, int, list[tuple[int, str]]]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name, field="agent")
        active = fr.c.agent_id == agent["id"], fr.c.released_ts.is_(None), fr.c.expires_ts > now
        count = int((await session.execute(select(func.count()).select_from(fr).where(*active))).scalar_one())
        patterns = (
            await session.execute(
                select(fr.c.id, fr.c.path_pattern).where(*active).order_by(fr.c.id).limit(MAX_PATTERNS_SHOWN)
            )
        ).all()
        return project, agent, count, [(rid, pattern) for rid, pattern in patterns]

    project, agent, count, patterns = await run_read(read)
    result = _project(project)
    result.update(
        agent_name=agent["name"],
        retired_at=iso(agent["retired_at"]) if agent["retired_at"] is not None else None,
        contact_policy=agent["contact_policy"],
        active_reservations=count,
        reservations_shown=[{"id": rid, "path_pattern": pattern} for rid, pattern in patterns],
    )
    return result


async def project_lifecycle_facts(project_key: str) -> dict[str, Any]:
    """Return the project with how many agents it has (retired ones apart) and how many reservations are active."""
    now = utcnow()

    async def read(session: ReadTransaction) -> tuple[RowMapping, tuple[int, int], int]:
        project = await resolve_project(session, project_key)
        agents = (
            await session.execute(
                select(func.count(), func.count(a.c.retired_at)).select_from(a).where(a.c.project_id == project["id"])
            )
        ).one()
        leases = (
            await session.execute(
                select(func.count())
                .select_from(fr)
                .where(fr.c.project_id == project["id"], fr.c.released_ts.is_(None), fr.c.expires_ts > now)
            )
        ).scalar_one()
        return project, (int(agents[0]), int(agents[1])), int(leases)

    project, agents, leases = await run_read(read)
    result = _project(project)
    result.update(agents=int(agents[0]), retired_agents=int(agents[1]), active_reservations=int(leases))
    return result


__all__ = ["agent_lifecycle_facts", "project_lifecycle_facts"]
