"""Deleting chosen messages of one project: from the database (recipients, search index) and the Git archive.

The deletion is one write transaction: it queues each message for the archive
writer (which removes the canonical file and every inbox/outbox copy of a message
no longer in the database, and redraws its thread digests, in one commit) and
then deletes the recipient rows and the messages; the full-text index follows the
messages through its triggers. Only messages stored in the project are deleted;
other ids are reported, never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, delete, func, select

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.timeutil import iso

MAX_DELETE = 500

m, r, a = schema.messages, schema.message_recipients, schema.agents


def check_message_ids(message_ids: Sequence[Any] | None) -> list[int]:
    """Return the distinct message ids (order kept), or raise INVALID_ARGUMENT for an empty, long or bad list."""
    if message_ids is None or isinstance(message_ids, (str, bytes)) or not isinstance(message_ids, (list, tuple)):
        raise InvalidArgumentError("message_ids must be a list of message ids.", hint="Pick messages by their ids.")
    if not message_ids:
        raise InvalidArgumentError("No message was chosen; nothing was deleted.", hint="Pick at least one message.")
    for value in message_ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                f"{value!r} is not a message id; nothing was deleted.",
                hint="Message ids are positive whole numbers.",
            )
    ids = list(dict.fromkeys(message_ids))
    if len(ids) > MAX_DELETE:
        raise InvalidArgumentError(
            f"{len(ids)} messages were chosen; at most {MAX_DELETE} can be deleted at once; nothing was deleted.",
            hint=f"Delete them in batches of up to {MAX_DELETE}.",
        )
    return ids


async def _found(session: ReadTransaction, project_id: int, ids: list[int]) -> list[dict[str, Any]]:
    recipients = (
        select(func.count()).select_from(r).where(r.c.message_id == m.c.id).correlate(m).scalar_subquery()
    ).label("recipients")
    rows = await session.execute(
        select(m.c.id, m.c.subject, m.c.thread_id, m.c.created_ts, a.c.name.label("sender"), recipients)
        .join(a, a.c.id == m.c.sender_id)
        .where(m.c.project_id == project_id, m.c.id.in_(ids))
        .order_by(m.c.id)
    )
    return [
        {
            "id": row["id"],
            "subject": row["subject"],
            "thread_id": row["thread_id"],
            "created_ts": iso(row["created_ts"]),
            "sender": row["sender"],
            "recipients": int(row["recipients"]),
        }
        for row in rows.mappings()
    ]


def _result(project: Any, ids: list[int], found: list[dict[str, Any]]) -> dict[str, Any]:
    present = {item["id"] for item in found}
    return {
        "project_key": project["human_key"],
        "slug": project["slug"],
        "messages": found,
        "not_found": [i for i in ids if i not in present],
    }


async def preview_deletion(project_key: str, message_ids: Sequence[Any]) -> dict[str, Any]:
    """Describe what deleting these ids would remove: the project's messages among them, and the other ids."""
    ids = check_message_ids(message_ids)

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[dict[str, Any]]]:
        project = await resolve_project(session, project_key)
        found = await _found(session, project["id"], ids)
        return project, found

    project, found = await run_read(read)
    return _result(project, ids, found)


async def delete_messages(project_key: str, message_ids: Sequence[Any]) -> dict[str, Any]:
    """Delete a project's messages by id with their recipient rows, search entries and archive files."""
    ids = check_message_ids(message_ids)

    async def unit(session: WriteTransaction) -> tuple[RowMapping, list[dict[str, Any]], list[int], int]:
        project = await resolve_project(session, project_key)
        found = await _found(session, project["id"], ids)
        doomed = [item["id"] for item in found]
        recipient_rows = 0
        if doomed:
            recipient_rows = int(
                (
                    await session.execute(select(func.count()).select_from(r).where(r.c.message_id.in_(doomed)))
                ).scalar_one()
            )
            await archive.enqueue_many(session, project["id"], "message", doomed)
            await session.execute(delete(r).where(r.c.message_id.in_(doomed)))
            await session.execute(delete(m).where(m.c.id.in_(doomed)))
        return project, found, doomed, recipient_rows

    project, found, doomed, recipient_rows = await run_write(unit)
    if doomed:
        archive.wake_writer()
    result = _result(project, ids, found)
    result["status"] = "deleted"
    result["deleted_counts"] = {"messages": len(doomed), "message_recipients": recipient_rows}
    return result


__all__ = ["MAX_DELETE", "check_message_ids", "delete_messages", "preview_deletion"]
