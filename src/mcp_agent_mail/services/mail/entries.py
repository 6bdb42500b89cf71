"""Message rows shaped as the entries of mail listings: inbox, topics, mailbox, outbox, threads and search."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from mcp_agent_mail.db.shapes import agent_label
from mcp_agent_mail.timeutil import iso


def message_entry(
    row: RowMapping,
    reader_project_id: int,
    *,
    body: bool,
    attachments: bool = False,
    receipt: bool = False,
) -> dict[str, Any]:
    """Shape a message row (with ``sender_name``, ``sender_project_id`` and ``sender_slug``) as a listing entry.

    ``thread_id`` and ``topic`` appear only when set; ``attachments`` (when asked and not empty),
    ``body_md`` (when asked) and the reader's ``kind``, ``read_ts`` and ``ack_ts`` (with
    ``receipt``; the times only when set) come from the row's columns of those names.
    """
    entry: dict[str, Any] = {
        "id": row["id"],
        "project_id": row["project_id"],
        "sender_id": row["sender_id"],
        "from": agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], reader_project_id),
    }
    for key in ("thread_id", "topic"):
        if row[key] is not None:
            entry[key] = row[key]
    entry.update(
        subject=row["subject"],
        importance=row["importance"],
        ack_required=bool(row["ack_required"]),
        created_ts=iso(row["created_ts"]),
    )
    if attachments and row["attachments"]:
        entry["attachments"] = row["attachments"]
    if receipt:
        entry["kind"] = row["kind"]
    if body:
        entry["body_md"] = row["body_md"]
    if receipt:
        for key in ("read_ts", "ack_ts"):
            if row[key] is not None:
                entry[key] = iso(row[key])
    return entry


__all__ = ["message_entry"]
