"""Doctor checks on a real database and Git archive: what each reports, and that checking changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from db_kit import current_url, digest, on_sqlite, table_names
from mcp_agent_mail import archive
from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.db.migrations import LATEST_VERSION
from mcp_agent_mail.services.doctor.checks import (
    check_orphans,
    check_pending,
    check_schema,
    read_connection,
    run_checks,
)
from mcp_agent_mail.services.doctor.findings import ERROR, OK, WARNING
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message

PROJECT = "/work/doctor-checks"
CHECKS = {
    "database",
    "schema",
    "fts_index",
    "archive_queue",
    "archive_failed",
    "orphans",
    "archive",
    "locks",
    "servers",
}


class Box:
    """The mailbox under test: its settings, its database file and the message sent in it."""

    def __init__(self, settings: Settings, db_path: Path, message_id: int) -> None:
        self.settings = settings
        self.db_path = db_path
        self.message_id = message_id

    def sql(self, statement: str, **params: object) -> None:
        """Run one statement (named parameters) outside the application: plain sqlite3 on SQLite (foreign keys
        not enforced), a connection of its own elsewhere."""
        run_sql(self.db_path, statement, **params)


def run_sql(db_path: Path, statement: str, **params: object) -> None:
    """Run one statement on the database as a separate client would."""
    if on_sqlite():
        with sqlite3.connect(db_path) as conn:
            conn.execute(statement, params)
        conn.close()
        return
    engine = create_engine(parse_database_url(current_url()).sync_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


@pytest.fixture
async def box(isolated_env) -> Box:
    """BlueLake wrote to RedFox in one project; everything is flushed to the archive."""
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "pytest", "m", name=name)
    await set_contact_policy(PROJECT, "RedFox", "open")
    sent = await send_message(PROJECT, "BlueLake", ["RedFox"], "Zebra report", "The zebra numbers are in.")
    archive.flush_pending()
    return Box(get_settings(), isolated_env["db_path"], int(sent["deliveries"][0]["payload"]["id"]))


def _dump(db_path: Path) -> list[str] | str:
    """Everything in the database: its SQL dump on SQLite, a digest of every row elsewhere."""
    if not on_sqlite():
        return digest(skip=())
    with sqlite3.connect(db_path) as conn:
        return list(conn.iterdump())


async def test_a_healthy_mailbox_passes_every_check_and_checking_changes_nothing(box, isolated_env):
    before = _dump(box.db_path)
    report = run_checks(box.settings)
    assert {f.name for f in report.findings} == CHECKS
    assert report.has_errors is False and report.summary()[WARNING] == 0
    archive_finding = report.get("archive")
    assert archive_finding is not None and archive_finding.message.startswith("Archive matches the database (")
    assert _dump(box.db_path) == before


async def test_the_schema_check_tells_current_behind_and_newer_apart(box):
    with read_connection(box.settings) as conn:
        current = check_schema(conn)
    assert (current.status, current.details) == (OK, {"current": LATEST_VERSION, "latest": LATEST_VERSION})

    box.sql("DELETE FROM schema_version WHERE version = :version", version=LATEST_VERSION)
    with read_connection(box.settings) as conn:
        behind = check_schema(conn)
    assert behind.status == WARNING and behind.repairable is True
    assert behind.message == f"Schema version {LATEST_VERSION - 1} is behind {LATEST_VERSION}."

    box.sql("INSERT INTO schema_version(version, name, applied_ts) VALUES (999, 'future', '2030-01-01')")
    with read_connection(box.settings) as conn:
        newer = check_schema(conn)
    assert newer.status == ERROR and newer.repairable is False
    assert newer.details["hint"] == "Upgrade mcp-agent-mail."


@pytest.mark.bare_database
async def test_a_database_file_without_the_mailbox_schema_is_an_error(isolated_env):
    db_path = isolated_env["db_path"]
    run_sql(db_path, "CREATE TABLE unrelated (x INTEGER)")
    report = run_checks(get_settings())
    schema = report.get("schema")
    assert schema is not None and schema.status == ERROR and schema.message == "The database has no mailbox schema."
    assert report.get("fts_index") is None  # nothing past the schema is judged
    assert table_names(current_url()) == {"unrelated"}  # the check neither created nor migrated anything


@pytest.mark.sqlite_only  # PostgreSQL enforces foreign keys for every client, so it never holds such rows
async def test_rows_pointing_at_missing_agents_or_messages_are_counted(box):
    with read_connection(box.settings) as conn:
        assert check_orphans(conn).status == OK
    box.sql("INSERT INTO message_recipients(message_id, agent_id, kind) VALUES (:id, 999, 'to')", id=box.message_id)
    box.sql("INSERT INTO message_recipients(message_id, agent_id, kind) VALUES (998, 1, 'cc')")
    box.sql("UPDATE messages SET sender_id = 997 WHERE id = :id", id=box.message_id)
    with read_connection(box.settings) as conn:
        finding = check_orphans(conn)
    assert finding.status == ERROR
    assert finding.details["recipients_without_agent"] == 1
    assert finding.details["recipients_without_message"] == 1
    assert finding.details["messages_without_sender"] == 1
    assert finding.repairable is False  # a message without its sender cannot be fixed by deleting rows


async def test_queued_archive_changes_are_reported_and_only_old_ones_warn(box):
    with read_connection(box.settings) as conn:
        assert check_pending(conn).details == {"pending": 0}
    box.sql(
        "INSERT INTO archive_outbox(project_id, kind, ref, created_ts) VALUES (1, 'project', '1', :ts)",
        ts="2020-01-01 00:00:00.000000",
    )
    with read_connection(box.settings) as conn:
        old = check_pending(conn)
    assert old.status == WARNING and old.repairable is True
    assert old.details["pending"] == 1 and old.details["oldest"].startswith("2020-01-01T00:00:00")
    assert archive.pending_count() == 1  # the check did not write the queued change


async def test_a_changed_archive_file_is_an_error_and_a_queued_change_softens_it(box, isolated_env):
    storage = isolated_env["storage"]
    profile = next(storage.glob("projects/*/agents/BlueLake/profile.json"))
    profile.write_text("{}\n")
    drift = run_checks(box.settings).get("archive")
    assert drift is not None and drift.status == ERROR and drift.repairable is True
    assert drift.details["differ_worktree_sample"] == [profile.relative_to(storage).as_posix()]
    assert profile.read_text() == "{}\n"

    box.sql("INSERT INTO archive_outbox(project_id, kind, ref, created_ts) VALUES (1, 'agent', '1', '2020-01-01')")
    queued = run_checks(box.settings).get("archive")
    assert queued is not None and queued.status == WARNING
    assert queued.message.endswith("1 queued change may explain it.")


async def test_an_emptied_database_next_to_a_full_archive_says_the_database_looks_lost(box, isolated_env):
    for table in ("message_recipients", "messages", "agents", "projects"):
        box.sql(f"DELETE FROM {table}")
    if on_sqlite():
        box.sql("DELETE FROM fts_messages")
    lost = run_checks(box.settings).get("archive")
    assert lost is not None and lost.status == ERROR and lost.repairable is False
    assert "the database looks lost" in lost.message and "rebuild-db" in lost.details["hint"]


@pytest.mark.sqlite_only  # PostgreSQL enforces foreign keys for every client, so it never holds such rows
async def test_dangling_recipients_alone_are_repairable_and_not_counted_twice(box):
    box.sql("INSERT INTO message_recipients(message_id, agent_id, kind) VALUES (:id, 999, 'to')", id=box.message_id)
    with read_connection(box.settings) as conn:
        finding = check_orphans(conn)
    assert finding.status == ERROR
    assert finding.details == {"recipients_without_agent": 1}  # SQLite's foreign_key_check does not add it again
    assert finding.repairable is True  # so doctor repair plans deleting it
