"""Irreversible deletions: an agent, a whole project, or a project's old mail.

Each runs in one write transaction that first queues the archive work for every
affected object (the writer removes the files of objects no longer in the
database, in one commit) and then deletes the rows explicitly, so the counts are
exact and nothing depends on cascades.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, delete, func, or_, select

from mcp_agent_mail import archive
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity import windows
from mcp_agent_mail.services.identity.auth import BINDINGS
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.timeutil import iso, utcnow

CONFIRMATION = "I UNDERSTAND"
MAX_AGE_DAYS_LIMIT = 36500
DRY_RUN_SAMPLE = 100

m, r, fr, links, a, summaries, sends = (
    schema.messages,
    schema.message_recipients,
    schema.file_reservations,
    schema.agent_links,
    schema.agents,
    schema.message_summaries,
    schema.client_sends,  # part of their message: deleted with it, not counted apart
)


def check_confirmation(confirmation: str | None, what: str) -> None:
    """Raise INVALID_ARGUMENT unless ``confirmation`` is exactly ``I UNDERSTAND``."""
    if confirmation != CONFIRMATION:
        raise InvalidArgumentError(
            f"{what} needs confirmation={CONFIRMATION!r} (exactly); nothing was deleted.",
            hint=f"This cannot be undone. If you are sure, call again with confirmation={CONFIRMATION!r}.",
        )


async def _count(session: ReadTransaction, table: Any, condition: ColumnElement[bool]) -> int:
    return int((await session.execute(select(func.count()).select_from(table).where(condition))).scalar_one())


async def _enqueue_messages(session: WriteTransaction, condition: ColumnElement[bool]) -> int:
    """Queue every message matching ``condition`` (by its own project) for re-rendering; return how many."""
    by_project: dict[int, list[int]] = defaultdict(list)
    for message_id, project_id in (await session.execute(select(m.c.id, m.c.project_id).where(condition))).all():
        by_project[project_id].append(message_id)
    for project_id, ids in by_project.items():
        await archive.enqueue_many(session, project_id, "message", ids)
    return sum(len(ids) for ids in by_project.values())


async def _enqueue_link_peers(
    session: WriteTransaction, condition: ColumnElement[bool], doomed: Callable[[int, int], bool]
) -> None:
    """Queue the surviving end of every link matching ``condition`` (its contacts.json changes)."""
    rows = await session.execute(
        select(links.c.a_project_id, links.c.a_agent_id, links.c.b_project_id, links.c.b_agent_id).where(condition)
    )
    peers: dict[int, set[int]] = defaultdict(set)
    for a_project, a_agent, b_project, b_agent in rows.all():
        for project_id, agent_id in ((a_project, a_agent), (b_project, b_agent)):
            if not doomed(project_id, agent_id):
                peers[project_id].add(agent_id)
    for project_id, agent_ids in peers.items():
        await archive.enqueue_many(session, project_id, "agent", sorted(agent_ids))


async def hard_delete_agent(project_key: str, agent_name: str, confirmation: str | None) -> dict[str, Any]:
    """Delete an agent with the mail it sent, its recipient rows, reservations and contact links."""
    check_confirmation(confirmation, "hard_delete_agent")

    async def unit(session: WriteTransaction) -> tuple[RowMapping, RowMapping, dict[str, int]]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name)
        aid = agent["id"]
        sent = select(m.c.id).where(m.c.sender_id == aid)
        received = select(r.c.message_id).where(r.c.agent_id == aid)
        reservation_ids = list((await session.execute(select(fr.c.id).where(fr.c.agent_id == aid))).scalars())
        link_condition = or_(links.c.a_agent_id == aid, links.c.b_agent_id == aid)
        counts = {
            "messages_sent": await _count(session, m, m.c.sender_id == aid),
            "sent_message_recipients": await _count(session, r, r.c.message_id.in_(sent)),
            "message_recipients": await _count(session, r, (r.c.agent_id == aid) & r.c.message_id.not_in(sent)),
            "file_reservations": len(reservation_ids),
            "agent_links": await _count(session, links, link_condition),
            "message_summaries": await _count(session, summaries, summaries.c.viewer_agent_id == aid),
            "agent": 1,
        }
        await archive.enqueue(session, project["id"], "agent", aid)
        await _enqueue_link_peers(session, link_condition, lambda _project, agent_id: agent_id == aid)
        await _enqueue_messages(session, or_(m.c.sender_id == aid, m.c.id.in_(received)))
        await archive.enqueue_many(session, project["id"], "reservation", reservation_ids)
        await session.execute(delete(sends).where(sends.c.sender_id == aid))
        await session.execute(delete(r).where(or_(r.c.message_id.in_(sent), r.c.agent_id == aid)))
        await session.execute(delete(m).where(m.c.sender_id == aid))
        await session.execute(delete(fr).where(fr.c.agent_id == aid))
        await session.execute(delete(links).where(link_condition))
        await session.execute(delete(summaries).where(summaries.c.viewer_agent_id == aid))
        await session.execute(delete(a).where(a.c.id == aid))
        await windows.delete_for_agent(session, project["id"], agent["name"])
        return project, agent, counts

    project, agent, counts = await run_write(unit)
    archive.wake_writer()
    BINDINGS.forget(agent_id=agent["id"])
    return {
        "status": "hard_deleted",
        "agent_name": agent["name"],
        "project_key": project["human_key"],
        "deleted_counts": counts,
    }


async def hard_delete_project(project_key: str, confirmation: str | None) -> dict[str, Any]:
    """Delete a project with its agents, mail, reservations and links, including its agents' mail elsewhere."""
    check_confirmation(confirmation, "hard_delete_project")

    async def unit(session: WriteTransaction) -> tuple[RowMapping, dict[str, int]]:
        project = await resolve_project(session, project_key)
        pid = project["id"]
        agent_ids = select(a.c.id).where(a.c.project_id == pid)
        doomed = or_(m.c.project_id == pid, m.c.sender_id.in_(agent_ids))
        doomed_ids = select(m.c.id).where(doomed)
        touched = or_(doomed, m.c.id.in_(select(r.c.message_id).where(r.c.agent_id.in_(agent_ids))))
        link_condition = or_(
            links.c.a_project_id == pid,
            links.c.b_project_id == pid,
            links.c.a_agent_id.in_(agent_ids),
            links.c.b_agent_id.in_(agent_ids),
        )
        recipient_condition = or_(r.c.message_id.in_(doomed_ids), r.c.agent_id.in_(agent_ids))
        summary_condition = or_(summaries.c.project_id == pid, summaries.c.viewer_agent_id.in_(agent_ids))
        agents = list((await session.execute(agent_ids)).scalars())
        reservation_ids = list((await session.execute(select(fr.c.id).where(fr.c.project_id == pid))).scalars())
        counts = {
            "agents": len(agents),
            "messages": await _count(session, m, doomed),
            "message_recipients": await _count(session, r, recipient_condition),
            "file_reservations": len(reservation_ids),
            "agent_links": await _count(session, links, link_condition),
            "message_summaries": await _count(session, summaries, summary_condition),
            "project": 1,
        }
        await archive.enqueue(session, pid, "project", pid)
        await archive.enqueue_many(session, pid, "agent", agents)
        doomed_agents = set(agents)
        await _enqueue_link_peers(
            session, link_condition, lambda project_id, agent_id: project_id == pid or agent_id in doomed_agents
        )
        await _enqueue_messages(session, touched)
        await archive.enqueue_many(session, pid, "reservation", reservation_ids)
        await session.execute(
            delete(sends).where(
                or_(sends.c.project_id == pid, sends.c.sender_id.in_(agent_ids), sends.c.message_id.in_(doomed_ids))
            )
        )
        await session.execute(delete(r).where(recipient_condition))
        await session.execute(delete(m).where(doomed))
        await session.execute(delete(fr).where(fr.c.project_id == pid))
        await session.execute(delete(links).where(link_condition))
        await session.execute(delete(summaries).where(summary_condition))
        await session.execute(delete(a).where(a.c.project_id == pid))
        await windows.delete_for_project(session, pid)
        await session.execute(delete(schema.projects).where(schema.projects.c.id == pid))
        return project, counts

    project, counts = await run_write(unit)
    archive.wake_writer()
    BINDINGS.forget(project_id=project["id"])
    return {
        "status": "hard_deleted",
        "project_key": project["human_key"],
        "slug": project["slug"],
        "deleted_counts": counts,
    }


def check_max_age_days(value: int | None) -> int:
    """Return the retention age in days (default RETENTION_MAX_AGE_DAYS), or raise unless it is 1..36500."""
    if value is None:
        return get_settings().retention_max_age_days
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AGE_DAYS_LIMIT:
        raise InvalidArgumentError(
            f"max_age_days must be an integer from 1 to {MAX_AGE_DAYS_LIMIT}; got {value!r}.",
            hint="Pass how many days of mail to keep, e.g. 180; older messages are purged.",
        )
    return value


async def purge_old_messages(
    project_key: str, max_age_days: int | None = None, dry_run: bool = True, confirmation: str | None = None
) -> dict[str, Any]:
    """Report (dry run) or delete a project's messages older than ``max_age_days`` days."""
    days = check_max_age_days(max_age_days)
    if not dry_run:
        check_confirmation(confirmation, "purge_old_messages with dry_run=false")
    cutoff = utcnow() - timedelta(days=days)
    result: dict[str, Any] = {
        "status": "dry_run" if dry_run else "purged",
        "project_key": project_key,
        "cutoff_date": iso(cutoff),
        "max_age_days": days,
    }
    if dry_run:

        async def read(session: ReadTransaction) -> list[int]:
            project = await resolve_project(session, project_key)
            result["project_key"] = project["human_key"]
            old = (m.c.project_id == project["id"]) & (m.c.created_ts < cutoff)
            result["messages_affected"] = await _count(session, m, old)
            sample = await session.execute(select(m.c.id).where(old).order_by(m.c.created_ts).limit(DRY_RUN_SAMPLE))
            ids = list(sample.scalars())
            return ids

        ids = await run_read(read)
        if ids:
            result["message_ids"] = ids
        return result

    async def unit(session: WriteTransaction) -> None:
        project = await resolve_project(session, project_key)
        result["project_key"] = project["human_key"]
        old = (m.c.project_id == project["id"]) & (m.c.created_ts < cutoff)
        result["messages_affected"] = await _enqueue_messages(session, old)
        await session.execute(delete(sends).where(sends.c.message_id.in_(select(m.c.id).where(old))))
        await session.execute(delete(r).where(r.c.message_id.in_(select(m.c.id).where(old))))
        await session.execute(delete(m).where(old))

    await run_write(unit)
    archive.wake_writer()
    return result
