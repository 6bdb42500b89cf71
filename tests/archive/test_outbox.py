"""The archive outbox (archive.outbox): entries queued with the change, failures described, due rows selected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from mcp_agent_mail.archive.outbox import (
    ERROR_MAX_CHARS,
    count_failed,
    due_clause,
    enqueue,
    enqueue_many,
    error_text,
    failed_entries,
    tracks_failures,
)
from mcp_agent_mail.db import run_write, schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.timeutil import utcnow


def _queued() -> list[tuple[int, str, str]]:
    o = schema.archive_outbox
    with sync_read_connection() as conn:
        return [tuple(row) for row in conn.execute(select(o.c.project_id, o.c.kind, o.c.ref).order_by(o.c.id))]


async def test_entries_are_queued_in_the_callers_transaction_and_vanish_with_its_rollback(isolated_env):
    async def queue(session: Any) -> None:
        await enqueue(session, 1, "message", 42)
        await enqueue_many(session, 1, "agent", [3, 4])
        await enqueue_many(session, 1, "agent", [])

    await run_write(queue)
    assert _queued() == [(1, "message", "42"), (1, "agent", "3"), (1, "agent", "4")]

    async def queue_then_fail(session: Any) -> None:
        await enqueue(session, 2, "project", 2)
        raise RuntimeError("the change itself failed")

    with pytest.raises(RuntimeError):
        await run_write(queue_then_fail)
    assert len(_queued()) == 3  # no archive work without its change


def test_error_text_is_one_line_names_the_destination_of_a_failed_rename_and_is_bounded():
    rename = OSError(28, "No space left on device")
    rename.filename, rename.filename2 = "/archive/.git/tmp-123", "/archive/projects/p/messages/m.md"
    assert error_text(rename) == "OSError: No space left on device: /archive/projects/p/messages/m.md"
    missing = FileNotFoundError(2, "No such file or directory", "/archive/x.json")
    assert error_text(missing) == "FileNotFoundError: No such file or directory: /archive/x.json"
    assert error_text(ValueError("bad\n  front\tmatter")) == "ValueError: bad front matter"
    long = error_text(RuntimeError("x" * 5000))
    assert len(long) == ERROR_MAX_CHARS and long.endswith("...")


def _add_failed(conn: Any, ref: str, attempts: int, failed_ago_s: int, retry_in_s: int | None) -> None:
    now = utcnow()
    conn.execute(
        insert(schema.archive_outbox).values(
            project_id=1,
            kind="message",
            ref=ref,
            created_ts=now,
            attempts=attempts,
            last_error=f"OSError: failed {ref}",
            failed_ts=now - timedelta(seconds=failed_ago_s) if attempts else None,
            retry_ts=None if retry_in_s is None else now + timedelta(seconds=retry_in_s),
        )
    )


def test_failed_entries_are_listed_latest_failure_first_and_only_due_rows_are_tried(isolated_env):
    with sync_write_connection() as conn:
        assert tracks_failures(conn)
        _add_failed(conn, "never-failed", 0, 0, None)
        _add_failed(conn, "older", 3, 600, -5)
        _add_failed(conn, "recent", 1, 10, 300)
    with sync_read_connection() as conn:
        entries = failed_entries(conn)
        assert [e.ref for e in entries] == ["recent", "older"]
        assert [e.ref for e in failed_entries(conn, limit=1)] == ["recent"]
        assert count_failed(conn) == 2
        o = schema.archive_outbox
        due = conn.execute(select(o.c.ref).where(due_clause(utcnow())).order_by(o.c.id)).scalars().all()
    assert due == ["never-failed", "older"]  # "recent" waits out its back-off

    recent = entries[0]
    assert recent.describe() == f"message recent (outbox row {recent.id}, 1 attempt): OSError: failed recent"
    assert "3 attempts" in entries[1].describe()
    as_json = recent.to_dict()
    assert as_json["attempts"] == 1 and as_json["failed_ts"].endswith("+00:00") and as_json["kind"] == "message"
