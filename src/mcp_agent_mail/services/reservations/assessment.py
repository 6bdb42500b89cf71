"""One reservation judged for a person deciding whether to release it: its holder, status and staleness evidence."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import RowMapping, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.reservations import staleness
from mcp_agent_mail.services.reservations.leases import reservation_view
from mcp_agent_mail.timeutil import iso, utcnow

a, fr = schema.agents, schema.file_reservations


def check_reservation_id(value: Any) -> int:
    """Return ``value`` as a reservation id, or raise INVALID_ARGUMENT unless it is a positive whole number."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{value!r} is not a reservation id.", hint="Reservation ids are positive numbers.")
    return value


def _evidence(verdict: staleness.Staleness) -> dict[str, str | None]:
    facts = {
        "last_agent_activity_ts": verdict.last_agent_activity,
        "last_mail_activity_ts": verdict.last_mail_activity,
        "last_filesystem_activity_ts": verdict.last_filesystem_activity,
        "last_git_activity_ts": verdict.last_git_activity,
    }
    return {key: iso(value) for key, value in facts.items() if value is not None}


async def assess_reservation(project_key: str, reservation_id: int) -> dict[str, Any]:
    """Return a project's reservation with its status and, while active, whether its holder is stale."""
    rid = check_reservation_id(reservation_id)
    now = utcnow()

    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping, RowMapping, staleness.AgentActivity]:
        project = await resolve_project(session, project_key)
        query = (
            select(fr, a.c.name.label("agent"))
            .join(a, a.c.id == fr.c.agent_id)
            .where(fr.c.id == rid, fr.c.project_id == project["id"])
        )
        row = (await session.execute(query)).mappings().first()
        if row is None:
            raise NotFoundError(
                f"File reservation {rid} not found in project {project['slug']!r}.",
                hint="Pick a reservation from the project's reservations page.",
                data={"file_reservation_id": rid},
            )
        holder = (await session.execute(select(a).where(a.c.id == row["agent_id"]))).mappings().one()
        activity = await staleness.agent_activity(session, holder)
        return project, row, holder, activity

    project, row, holder, activity = await run_read(read)
    result = reservation_view(row)
    result.update(
        project_key=project["human_key"],
        slug=project["slug"],
        project_archived=project["archived_at"] is not None,
        holder_retired=holder["retired_at"] is not None,
    )
    if row["released_ts"] is not None:
        result["status"] = "released"
        return result
    if row["expires_ts"] <= now:
        result["status"] = "expired"
        return result
    result["status"] = "active"
    verdict = staleness.judge(activity, None, now)
    if verdict.stale:  # the workspace is read only when the cheap signals already say stale, as a release does
        workspace = await asyncio.to_thread(
            staleness.workspace_activity, project["human_key"], row["path_pattern"], now
        )
        verdict = staleness.judge(activity, workspace, now)
    result.update(stale=verdict.stale, stale_reasons=verdict.reasons, **_evidence(verdict))
    return result


__all__ = ["assess_reservation", "check_reservation_id"]
