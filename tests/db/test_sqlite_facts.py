"""Facts about a SQLite file asked in one place: connection settings, tables, quick_check, the search index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from mcp_agent_mail.db import ensure_schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.db.sqlite_facts import (
    fts_coverage,
    fts_indexed_count,
    fts_integrity_problem,
    has_fts_index,
    quick_check,
    schema_objects,
    set_connection_pragmas,
    table_definitions,
    table_names,
)

pytestmark = pytest.mark.sqlite_only

CORE = {"projects", "agents", "messages", "message_recipients", "file_reservations", "schema_version"}
PAGE = 4096


def _pragmas(conn: sqlite3.Connection) -> dict[str, object]:
    names = ("journal_mode", "synchronous", "foreign_keys", "temp_store", "busy_timeout")
    return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}


def _damaged_file(path: Path) -> Path:
    """Write a small database, then overwrite part of one of its b-tree pages (not the header page)."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(f"PRAGMA page_size={PAGE}")
        conn.execute("CREATE TABLE t(a TEXT)")
        conn.execute("CREATE INDEX i ON t(a)")
        conn.executemany("INSERT INTO t VALUES (?)", [(str(n) * 20,) for n in range(2000)])
    conn.close()
    data = bytearray(path.read_bytes())
    data[PAGE * 5 + 100 : PAGE * 5 + 400] = b"A" * 300
    path.write_bytes(bytes(data))
    return path


def test_a_new_connection_gets_the_mailbox_settings(tmp_path):
    conn = sqlite3.connect(tmp_path / "a.sqlite3", isolation_level=None)
    try:
        set_connection_pragmas(conn, busy_timeout_ms=1234)
        assert _pragmas(conn) == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL
            "foreign_keys": 1,
            "temp_store": 2,  # MEMORY
            "busy_timeout": 1234,
        }
    finally:
        conn.close()


def test_a_private_file_can_keep_its_rollback_journal(tmp_path):
    conn = sqlite3.connect(tmp_path / "b.sqlite3", isolation_level=None)
    try:
        before = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        set_connection_pragmas(conn, wal=False)
        facts = _pragmas(conn)
        assert facts["journal_mode"] == "delete" and facts["foreign_keys"] == 1 and facts["synchronous"] == 2
        assert facts["busy_timeout"] == before  # left alone when not given
    finally:
        conn.close()


def test_the_engines_connections_use_the_same_settings(isolated_env):
    ensure_schema()
    with sync_read_connection() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        facts = _pragmas(raw)
    assert facts["journal_mode"] == "wal" and facts["foreign_keys"] == 1 and facts["synchronous"] == 2


def test_tables_and_schema_objects_of_a_migrated_mailbox(isolated_env):
    ensure_schema()
    with sqlite3.connect(isolated_env["db_path"]) as conn:
        names = table_names(conn)
        definitions = table_definitions(conn)
        objects = schema_objects(conn)
    conn.close()
    assert names >= CORE and "fts_messages" in names
    ordered = [name for name, _sql in definitions]
    assert ordered.index("projects") < ordered.index("agents") < ordered.index("messages")
    assert dict(definitions)["projects"].startswith("CREATE TABLE projects")
    assert ("trigger", "fts_messages_ai") in objects
    assert "  " not in objects[("table", "messages")] and "\n" not in objects[("table", "messages")]
    with sync_read_connection() as sa_conn:  # the same answers through SQLAlchemy
        assert table_names(sa_conn) == names


def test_an_attached_database_is_asked_by_its_name(tmp_path):
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE only_there(x)")
    conn.close()
    conn = sqlite3.connect(tmp_path / "main.sqlite3")
    try:
        conn.execute("ATTACH DATABASE ? AS snap", (str(other),))
        assert table_names(conn, "snap") == {"only_there"}
        assert table_names(conn) == set()
    finally:
        conn.close()


def test_quick_check_is_empty_for_a_sound_file_and_lists_the_damage_of_a_broken_one(tmp_path):
    sound = tmp_path / "sound.sqlite3"
    with sqlite3.connect(sound) as conn:
        conn.execute("CREATE TABLE t(a)")
    conn.close()
    with sqlite3.connect(sound) as conn:
        assert quick_check(conn) == []
    conn.close()
    broken = _damaged_file(tmp_path / "broken.sqlite3")
    with sqlite3.connect(broken) as conn:
        problems = quick_check(conn, limit=5)
    conn.close()
    assert problems and len(problems) <= 5
    assert "page" in problems[0]


def test_the_search_index_counts_and_its_gaps(isolated_env):
    ensure_schema()
    with sync_write_connection() as conn:
        conn.execute(
            text("INSERT INTO projects (id, slug, human_key, created_at) VALUES (1, 'p', '/p', '2026-01-01 00:00:00')")
        )
        conn.execute(
            text(
                "INSERT INTO agents (id, project_id, name, name_key, program, model, task_description, inception_ts, "
                "last_active_ts, attachments_policy, contact_policy) VALUES (1, 1, 'BlueLake', 'bluelake', 'p', 'm', "
                "'', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'auto', 'auto')"
            )
        )
        for n in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO messages (id, project_id, sender_id, subject, body_md, importance, ack_required, "
                    "created_ts, attachments) VALUES (:n, 1, 1, 'hello', 'body', 'normal', 0, "
                    "'2026-01-01 00:00:00', '[]')"
                ),
                {"n": n},
            )
    with sync_read_connection() as conn:
        assert has_fts_index(conn) and fts_indexed_count(conn) == 3
        coverage = fts_coverage(conn)
        assert (coverage.messages, coverage.indexed, coverage.missing, coverage.stale) == (3, 3, [], [])
        assert fts_integrity_problem(conn) is None
    with sqlite3.connect(isolated_env["db_path"], isolation_level=None) as raw:
        # Take message 2 out of the index behind the triggers' back, and index a message that does not exist.
        raw.execute(
            "INSERT INTO fts_messages(fts_messages, rowid, subject, body_md) VALUES ('delete', 2, 'hello', 'body')"
        )
        raw.execute("INSERT INTO fts_messages(rowid, subject, body_md) VALUES (9, 'ghost', 'gone')")
    raw.close()
    with sync_read_connection() as conn:
        coverage = fts_coverage(conn)
        assert (coverage.messages, coverage.indexed, coverage.missing, coverage.stale) == (3, 3, [2], [9])
        assert fts_indexed_count(conn) == 3


def test_a_mailbox_without_the_search_index_says_so(tmp_path):
    conn = sqlite3.connect(tmp_path / "bare.sqlite3")
    try:
        conn.execute("CREATE TABLE messages(id INTEGER PRIMARY KEY)")
        assert not has_fts_index(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("limit", [1, 50])
def test_quick_check_never_reports_more_than_its_limit(tmp_path, limit):
    broken = _damaged_file(tmp_path / f"broken-{limit}.sqlite3")
    with sqlite3.connect(broken) as conn:
        assert 1 <= len(quick_check(conn, limit=limit)) <= limit
    conn.close()
