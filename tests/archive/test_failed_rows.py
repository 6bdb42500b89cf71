"""An outbox row the writer cannot apply stays queued with its error; the rest of the queue goes on without it."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from sqlalchemy import create_engine, insert, select, update

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending, pending_count, wake_writer
from mcp_agent_mail.archive.flush import due_count, failed_count, retry_failed
from mcp_agent_mail.archive.outbox import RETRY_MAX_SECONDS, retry_delay
from mcp_agent_mail.archive.writer import writer_running
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import reset_database_state, schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.db.migrations import LATEST_VERSION, MIGRATIONS, current_version
from mcp_agent_mail.http.app import build_http_app
from mcp_agent_mail.services.doctor.checks import run_checks
from mcp_agent_mail.timeutil import utcnow

AGENTS = "projects/work-demo-repo/agents"


def outbox_rows() -> list[dict[str, Any]]:
    """Every queued row, oldest first (times as aware datetimes)."""
    outbox = schema.archive_outbox
    with sync_read_connection() as conn:
        return [dict(row) for row in conn.execute(select(outbox).order_by(outbox.c.id)).mappings()]


def committed(archive, path: str) -> bool:
    """Tell whether the last archive commit holds ``path``."""
    return bool(archive.git("ls-tree", "--name-only", "HEAD", path).strip())


def block_with_folder(archive, rel: str) -> Path:
    """Put a folder holding a file where the archive must write the file ``rel``."""
    blocker = archive.root / rel
    blocker.mkdir(parents=True)
    (blocker / "notes.txt").write_text("a person's notes")
    return blocker


def make_due(row_id: int) -> None:
    """Move a failed row's retry time into the past, as the passing of its back-off would."""
    outbox = schema.archive_outbox
    with sync_write_connection() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(retry_ts=utcnow() - timedelta(seconds=1)))


def test_retry_delay_doubles_up_to_an_hour():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert retry_delay(12).total_seconds() == RETRY_MAX_SECONDS == 3600
    assert retry_delay(10_000).total_seconds() == RETRY_MAX_SECONDS


def test_a_row_whose_file_is_blocked_by_a_folder_stays_queued_and_the_batch_commits_the_rest(seed, archive):
    pid = seed.project()
    alice = seed.agent(pid, "Alice")
    flush_pending()
    blocker = block_with_folder(archive, f"{AGENTS}/Carol/profile.json")
    carol = seed.agent(pid, "Carol")
    dave = seed.agent(pid, "Dave")
    seed.message(pid, alice, "Kickoff", to=(dave,))

    assert flush_pending() == 2
    [row] = outbox_rows()
    assert (row["kind"], row["ref"], row["attempts"]) == ("agent", str(carol), 1)
    assert row["last_error"] == f"IsADirectoryError: Is a directory: {blocker}"
    assert row["failed_ts"] < row["retry_ts"]
    assert committed(archive, f"{AGENTS}/Dave/profile.json")
    assert committed(archive, f"{AGENTS}/Dave/inbox")
    assert not committed(archive, f"{AGENTS}/Carol")
    assert (blocker / "notes.txt").read_text() == "a person's notes"
    assert pending_count() == 1 and failed_count() == 1 and due_count() == 0

    # Flushing again returns at once and leaves the row to its back-off.
    assert flush_pending() == 0
    assert outbox_rows() == [row]

    (blocker / "notes.txt").unlink()
    blocker.rmdir()
    report = retry_failed()
    assert (report.retried, report.written, report.still_failing) == (1, 1, [])
    assert outbox_rows() == []
    assert committed(archive, f"{AGENTS}/Carol/profile.json")
    archive.assert_clean()


def test_corrupted_rows_are_kept_with_their_error_not_dropped(seed, archive):
    pid = seed.project()
    seed.agent(pid, "Alice")
    flush_pending()
    now = utcnow()
    with sync_write_connection() as conn:
        for kind, ref in (("agent", "Alice"), ("mailbox", "1")):  # a name where an id belongs; an unknown kind
            conn.execute(insert(schema.archive_outbox).values(project_id=pid, kind=kind, ref=ref, created_ts=now))
    seed.agent(pid, "Bob")

    assert flush_pending() == 1
    assert committed(archive, f"{AGENTS}/Bob/profile.json")
    errors = {(row["kind"], row["ref"]): (row["attempts"], row["last_error"]) for row in outbox_rows()}
    assert errors == {
        ("agent", "Alice"): (1, "ValueError: invalid literal for int() with base 10: 'Alice'"),
        ("mailbox", "1"): (1, "ValueError: unknown outbox kind 'mailbox'"),
    }
    archive.assert_clean()


@pytest.mark.sqlite_only  # PostgreSQL refuses a time that is not a time when it is written
def test_a_message_that_cannot_be_rendered_stays_queued_and_is_written_once_fixed(seed, archive):
    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    flush_pending()
    good = seed.message(pid, alice, "Good news", to=(bob,))
    bad = seed.message(pid, alice, "Broken date", to=(bob,))
    with sync_write_connection() as conn:
        conn.exec_driver_sql("UPDATE messages SET created_ts = 'last tuesday' WHERE id = ?", (bad,))

    assert flush_pending() == 1
    assert any(path.endswith(f"__{good}.md") for path in archive.git("ls-tree", "-r", "--name-only", "HEAD").split())
    [row] = outbox_rows()
    assert (row["kind"], row["ref"], row["attempts"]) == ("message", str(bad), 1)
    assert "last tuesday" in row["last_error"]

    # Retried when its back-off has passed: it fails again, and waits twice as long.
    make_due(row["id"])
    assert flush_pending() == 0
    [again] = outbox_rows()
    assert again["attempts"] == 2 and again["last_error"] == row["last_error"]
    assert again["retry_ts"] - again["failed_ts"] == retry_delay(2)

    with sync_write_connection() as conn:
        conn.exec_driver_sql("UPDATE messages SET created_ts = '2026-03-05 10:00:00.000000' WHERE id = ?", (bad,))
    make_due(row["id"])
    assert flush_pending() == 1
    assert outbox_rows() == []
    assert committed(archive, f"{AGENTS}/Bob/inbox/2026/03/2026-03-05T10-00-00Z__broken-date__{bad}.md")
    archive.assert_clean()


def test_a_later_successful_write_of_the_same_object_clears_its_failed_row(seed, archive):
    pid = seed.project()
    flush_pending()
    blocker = block_with_folder(archive, f"{AGENTS}/Carol/profile.json")
    carol = seed.agent(pid, "Carol")
    assert flush_pending() == 0 and failed_count() == 1
    (blocker / "notes.txt").unlink()
    blocker.rmdir()

    seed.enqueue(pid, "agent", carol)  # Carol changes again; the old row still waits out its back-off
    assert flush_pending() == 1
    assert outbox_rows() == []
    assert committed(archive, f"{AGENTS}/Carol/profile.json")
    archive.assert_clean()


async def test_the_writer_keeps_going_and_stops_promptly_with_a_failing_row(seed, archive):
    pid = seed.project()
    await asyncio.to_thread(flush_pending)
    block_with_folder(archive, f"{AGENTS}/Carol/profile.json")
    seed.agent(pid, "Carol")
    async with writer_running():  # the replay at start records the failure
        seed.agent(pid, "Erin")
        wake_writer()
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(pending_count) > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert committed(archive, f"{AGENTS}/Erin/profile.json")
    [row] = outbox_rows()
    # Neither the polls nor the drain at exit tried it again before its back-off.
    assert row["attempts"] == 1 and row["last_error"].startswith("IsADirectoryError:")


async def test_health_check_and_readiness_report_failed_changes(seed, archive):
    pid = seed.project()
    await asyncio.to_thread(flush_pending)
    block_with_folder(archive, f"{AGENTS}/Carol/profile.json")
    carol = seed.agent(pid, "Carol")
    await asyncio.to_thread(flush_pending)

    async with Client(build_mcp_server()) as client:
        health = (await client.call_tool("health_check", {})).data
    assert health["status"] == "degraded" and health["database"] == "ok"
    assert health["archive_pending"] == 1 and health["archive_failed"] == 1
    assert health["archive_last_error"].startswith(f"agent {carol} (outbox row ")
    assert "IsADirectoryError" in health["archive_last_error"] and "doctor" in health["hint"]

    transport = httpx.ASGITransport(app=build_http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        ready = await http.get("/health/readiness")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["archive_failed"] == 1 and body["archive_pending"] == 1
    assert "IsADirectoryError" not in ready.text  # the open probe gives counts, not paths


@pytest.mark.sqlite_only  # builds a version-5 SQLite file by hand
def test_a_version_5_database_upgrades_and_keeps_its_queue(isolated_env, seed, archive):
    db_path = isolated_env["db_path"]
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        schema.metadata.create_all(conn, tables=[schema.schema_version])
        for migration in MIGRATIONS[:5]:
            migration.apply(conn)
            conn.execute(
                schema.schema_version.insert().values(
                    version=migration.version, name=migration.name, applied_ts=utcnow()
                )
            )
        conn.exec_driver_sql(
            "INSERT INTO projects(slug, human_key, created_at) "
            "VALUES ('work-demo-repo', '/work/demo-repo', '2026-01-01 00:00:00.000000')"
        )
        conn.exec_driver_sql(
            "INSERT INTO archive_outbox(project_id, kind, ref, created_ts) "
            "VALUES (1, 'project', '1', '2026-01-01 00:00:00.000000')"
        )
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(archive_outbox)")]
    engine.dispose()
    assert "attempts" not in columns and current_version_of(db_path) == 5
    reset_database_state()

    report = run_checks(get_settings())  # doctor check reads an old database as it is
    assert report.get("schema").status == "warning"
    assert report.get("archive_queue").details["pending"] == 1
    assert report.get("archive_failed").status == "ok"
    assert current_version_of(db_path) == 5
    reset_database_state()

    assert pending_count() == 1  # opening the database migrates it
    assert current_version_of(db_path) == LATEST_VERSION
    [row] = outbox_rows()
    assert (row["kind"], row["attempts"], row["last_error"], row["retry_ts"]) == ("project", 0, None, None)
    assert flush_pending() == 1
    assert committed(archive, "projects/work-demo-repo/project.json")


def current_version_of(db_path: Path) -> int:
    """Return the schema version recorded in a database file."""
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            return current_version(conn)
    finally:
        engine.dispose()
