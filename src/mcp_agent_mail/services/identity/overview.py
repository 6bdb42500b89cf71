"""Overviews for people: projects with their agent and message counts, and a project's agents, page by page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.db.shapes import agent_dict, project_dict
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.timeutil import iso

p, a, m, r = schema.projects, schema.agents, schema.messages, schema.message_recipients
MAX_PER_PAGE = 200


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: 1-based ``number`` and ``size`` rows per page."""

    number: int = 1
    size: int = 50

    @property
    def offset(self) -> int:
        """Return how many rows come before this page."""
        return (self.number - 1) * self.size


def check_page(number: int, size: int) -> Page:
    """Return a valid page, or raise INVALID_ARGUMENT naming what is wrong."""
    if number < 1:
        raise InvalidArgumentError(f"page must be 1 or more, not {number}.", hint="Pages are numbered from 1.")
    if not 1 <= size <= MAX_PER_PAGE:
        raise InvalidArgumentError(f"per_page must be between 1 and {MAX_PER_PAGE}, not {size}.")
    return Page(number, size)


def paged(rows: list[Any], page: Page) -> tuple[list[Any], bool]:
    """Split ``size + 1`` fetched rows into the page's rows and whether another page follows."""
    return rows[: page.size], len(rows) > page.size


async def projects_overview(page: Page) -> dict[str, Any]:
    """Return a page of projects (oldest first) with agent and message counts and their last activity."""
    agents = (
        select(
            a.c.project_id,
            func.count().label("agent_count"),
            func.max(a.c.last_active_ts).label("last_active_ts"),
        )
        .group_by(a.c.project_id)
        .subquery()
    )
    mail = (
        select(m.c.project_id, func.count().label("message_count"), func.max(m.c.created_ts).label("last_message_ts"))
        .group_by(m.c.project_id)
        .subquery()
    )
    query = (
        select(
            p,
            func.coalesce(agents.c.agent_count, 0).label("agent_count"),
            agents.c.last_active_ts,
            func.coalesce(mail.c.message_count, 0).label("message_count"),
            mail.c.last_message_ts,
        )
        .outerjoin(agents, agents.c.project_id == p.c.id)
        .outerjoin(mail, mail.c.project_id == p.c.id)
        .order_by(p.c.id)
        .offset(page.offset)
        .limit(page.size + 1)
    )

    async def read(session: ReadTransaction) -> tuple[list[RowMapping], int]:
        rows = list((await session.execute(query)).mappings().all())
        total = int((await session.execute(select(func.count()).select_from(p))).scalar_one())
        return rows, total

    rows, total = await run_read(read)
    shown, more = paged(rows, page)
    items = []
    for row in shown:
        item = project_dict(row)
        item["agent_count"] = int(row["agent_count"])
        item["message_count"] = int(row["message_count"])
        item["last_active_ts"] = iso(row["last_active_ts"]) if row["last_active_ts"] else None
        item["last_message_ts"] = iso(row["last_message_ts"]) if row["last_message_ts"] else None
        items.append(item)
    return {"projects": items, "page": page.number, "has_more": more, "total": total}


async def project_overview(project_key: str, page: Page) -> dict[str, Any]:
    """Return a project and a page of its agents (most recently active first), retired ones marked."""
    unread = (
        select(r.c.agent_id, func.count().label("unread"))
        .where(r.c.read_ts.is_(None))
        .group_by(r.c.agent_id)
        .subquery()
    )

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping], int]:
        project = await resolve_project(session, project_key)
        query = (
            select(a, func.coalesce(unread.c.unread, 0).label("unread_count"))
            .outerjoin(unread, unread.c.agent_id == a.c.id)
            .where(a.c.project_id == project["id"])
            .order_by(a.c.retired_at.is_not(None), a.c.last_active_ts.desc(), a.c.name_key)
            .offset(page.offset)
            .limit(page.size + 1)
        )
        rows = list((await session.execute(query)).mappings().all())
        total = int((await session.execute(select(func.count()).where(a.c.project_id == project["id"]))).scalar_one())
        return project, rows, total

    project, rows, total = await run_read(read)
    shown, more = paged(rows, page)
    agents = []
    for row in shown:
        item = agent_dict(row)
        item["unread_count"] = int(row["unread_count"])
        agents.append(item)
    return {"project": project_dict(project), "agents": agents, "page": page.number, "has_more": more, "total": total}


__all__ = ["MAX_PER_PAGE", "Page", "check_page", "paged", "project_overview", "projects_overview"]
