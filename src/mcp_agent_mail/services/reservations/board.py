"""A project's reservations as a board for people: filtered by status, paged, overlaps between holders flagged.

Reading changes nothing. Overlaps are judged among the project's active leases only, between
different holders, with the same pattern rules the reservation tools use; a stored pattern that no
longer validates is taken to overlap everything (as the tools take it) and says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, RowMapping, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.reservations.patterns import patterns_overlap, read_stored_pattern
from mcp_agent_mail.timeutil import iso, utcnow

Status = Literal["active", "expired", "released"]
STATUSES: tuple[str, ...] = ("active", "expired", "released")
MAX_PAGE = 1000
MAX_PAGE_SIZE = 200
MAX_OVERLAP_LEASES = 200  # overlaps are judged among at most this many active leases (newest first)

a, fr = schema.agents, schema.file_reservations


@dataclass
class ReservationBoard:
    """One page of a project's reservations of one status."""

    project: dict[str, Any]
    status: str
    page: int
    page_size: int
    items: list[dict[str, Any]] = field(default_factory=list)
    has_next: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    overlaps_partial: bool = False


def check_status(status: str) -> Status:
    """Validate a reservation status filter."""
    if status not in STATUSES:
        raise InvalidArgumentError(f"status must be one of {', '.join(STATUSES)}; got {status!r}.")
    return status  # type: ignore[return-value]


def _condition(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "released":
        return fr.c.released_ts.is_not(None)
    if status == "expired":
        return fr.c.released_ts.is_(None) & (fr.c.expires_ts <= now)
    return fr.c.released_ts.is_(None) & (fr.c.expires_ts > now)


def _overlap(first: str, second: str) -> bool:
    one, problem_one = read_stored_pattern(first)
    two, problem_two = read_stored_pattern(second)
    if problem_one or problem_two:
        return True
    return patterns_overlap(one, two)


def overlaps_between_holders(leases: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Map each lease id to the other holders' leases whose patterns overlap it (same-holder pairs skipped)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for index, lease in enumerate(leases):
        for other in leases[index + 1 :]:
            if lease["agent_id"] == other["agent_id"] or not _overlap(lease["path_pattern"], other["path_pattern"]):
                continue
            for mine, theirs in ((lease, other), (other, lease)):
                found.setdefault(mine["id"], []).append(
                    {
                        "id": theirs["id"],
                        "agent": theirs["agent"],
                        "path_pattern": theirs["path_pattern"],
                        "exclusive": theirs["exclusive"],
                        "conflict": bool(mine["exclusive"] or theirs["exclusive"]),
                    }
                )
    return found


def _item(row: RowMapping, status: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row["id"],
        "agent": row["agent"],
        "agent_id": row["agent_id"],
        "path_pattern": row["path_pattern"],
        "exclusive": bool(row["exclusive"]),
        "reason": row["reason"] or "",
        "created_ts": iso(row["created_ts"]),
        "expires_ts": iso(row["expires_ts"]),
        "released_ts": iso(row["released_ts"]),
        "status": status,
        "overlaps": [],
    }
    problem = read_stored_pattern(row["path_pattern"])[1]
    if problem is not None:
        item["pattern_problem"] = problem
    return item


async def reservation_board(
    project_key: str, *, status: str = "active", page: int = 1, page_size: int = 50
) -> ReservationBoard:
    """Return one page of the project's reservations of ``status``, newest first, with overlaps on active ones."""
    chosen = check_status(status)
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
        raise InvalidArgumentError(f"page must be an integer from 1 to {MAX_PAGE}; got {page!r}.")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}; got {page_size!r}.")
    now = utcnow()
    base = select(fr, a.c.name.label("agent")).join(a, a.c.id == fr.c.agent_id)

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping], list[RowMapping], dict[str, int]]:
        project = await resolve_project(session, project_key)
        mine = fr.c.project_id == project["id"]
        rows = (
            (
                await session.execute(
                    base.where(mine, _condition(chosen, now))
                    .order_by(fr.c.created_ts.desc(), fr.c.id.desc())
                    .limit(page_size + 1)
                    .offset((page - 1) * page_size)
                )
            )
            .mappings()
            .all()
        )
        active = (
            (
                await session.execute(
                    base.where(mine, _condition("active", now))
                    .order_by(fr.c.created_ts.desc(), fr.c.id.desc())
                    .limit(MAX_OVERLAP_LEASES + 1)
                )
            )
            .mappings()
            .all()
        )
        counts = {}
        for name in STATUSES:
            counted = select(func.count()).select_from(fr).where(mine, _condition(name, now))
            counts[name] = int((await session.execute(counted)).scalar() or 0)
        return project, list(rows), list(active), counts

    project, rows, active, counts = await run_read(read)
    board = ReservationBoard(
        project={"slug": project["slug"], "human_key": project["human_key"]},
        status=chosen,
        page=page,
        page_size=page_size,
        items=[_item(row, chosen) for row in rows[:page_size]],
        has_next=len(rows) > page_size,
        counts=counts,
        overlaps_partial=len(active) > MAX_OVERLAP_LEASES,
    )
    if chosen == "active":
        leases = [_item(row, "active") for row in active[:MAX_OVERLAP_LEASES]]
        overlaps = await asyncio.to_thread(overlaps_between_holders, leases)
        for item in board.items:
            item["overlaps"] = overlaps.get(item["id"], [])
    return board


__all__ = ["STATUSES", "ReservationBoard", "check_status", "overlaps_between_holders", "reservation_board"]
