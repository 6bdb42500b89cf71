"""A person releasing a stale lease: the same staleness rules and holder notice as an agent's force release.

The person acts as the project's human overseer identity (the one the compose page sends as,
:mod:`mcp_agent_mail.services.mail.overseer`), created on first use.
Everything that can refuse the release without a write (unknown project or
reservation, archived project, a holder who may still be working) is checked
first, so a refused request changes nothing; the force release then judges the
holder again under the write lock.
"""

from __future__ import annotations

from typing import Any

from mcp_agent_mail import archive
from mcp_agent_mail.db import WriteTransaction, run_write
from mcp_agent_mail.errors import ProjectArchivedError, ReservationActiveError
from mcp_agent_mail.services.identity.agents import ensure_reserved_agent
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.lease_takeover import force_release
from mcp_agent_mail.services.mail.overseer import OVERSEER_MODEL, OVERSEER_NAME, OVERSEER_PROGRAM, OVERSEER_TASK
from mcp_agent_mail.services.reservations.assessment import assess_reservation, check_reservation_id

OPERATOR_NAME = OVERSEER_NAME


async def ensure_operator(project_key: str) -> str:
    """Return the name of the project's human overseer identity, creating it (as the compose page does) if missing."""

    async def unit(session: WriteTransaction) -> str:
        project = await resolve_project(session, project_key)
        row = await ensure_reserved_agent(
            session,
            project,
            OVERSEER_NAME,
            program=OVERSEER_PROGRAM,
            model=OVERSEER_MODEL,
            task_description=OVERSEER_TASK,
        )
        return str(row["name"])

    name = await run_write(unit)
    archive.wake_writer()
    return name


async def release_for_operator(project_key: str, reservation_id: int, note: str = "") -> dict[str, Any]:
    """Release a reservation whose holder is stale, as the human overseer, and mail the holder why.

    Returns the reservation as it was judged before the release (``assessment``) and the force
    release's result (``released``, ``reservation`` with the reasons and whether the holder was
    notified). Raises NOT_FOUND, PROJECT_ARCHIVED or RESERVATION_ACTIVE (with the reasons) and then
    changes nothing.
    """
    rid = check_reservation_id(reservation_id)
    assessment = await assess_reservation(project_key, rid)
    if assessment["status"] == "released":
        return {"assessment": assessment, "released": 0, "already_released": True}
    if assessment["project_archived"]:
        raise ProjectArchivedError(
            f"Project {assessment['slug']!r} is archived; its reservations are kept as they are.",
            hint="Unarchive the project first if the lease must end.",
        )
    if assessment["status"] == "active" and not assessment["stale"]:
        raise ReservationActiveError(
            f"Reservation {rid} on {assessment['path_pattern']!r} is held by {assessment['agent']}, who may still "
            f"be working on it ({', '.join(assessment['stale_reasons'])}); nothing was released.",
            data={"file_reservation_id": rid, "stale_reasons": assessment["stale_reasons"]},
        )
    actor = await ensure_operator(assessment["project_key"])
    result = await force_release(assessment["project_key"], actor, rid, notify_previous=True, note=note)
    return {"assessment": assessment, "actor": actor, **result}


__all__ = ["OPERATOR_NAME", "ensure_operator", "release_for_operator"]
