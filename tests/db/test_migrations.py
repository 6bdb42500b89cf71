"""Schema migrations (db.migrations): applied once each, in order, from any earlier version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect

from mcp_agent_mail.db import schema
from mcp_agent_mail.db.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate, rebuild_fts
from mcp_agent_mail.timeutil import utcnow


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A plain engine on a new SQLite file (none of the server's engines or caches)."""
    made = create_engine(f"sqlite:///{tmp_path / 'mail.sqlite3'}")
    yield made
    made.dispose()


def _apply_up_to(engine: Engine, version: int) -> None:
    with engine.begin() as conn:
        schema.metadata.create_all(conn, tables=[schema.schema_version])
        for migration in MIGRATIONS[:version]:
            migration.apply(conn)
            conn.execute(
                schema.schema_version.insert().values(
                    version=migration.version, name=migration.name, applied_ts=utcnow()
                )
            )


def _search(engine: Engine, word: str) -> list[int]:
    with engine.connect() as conn:
        return [
            row[0] for row in conn.exec_driver_sql("SELECT rowid FROM fts_messages WHERE fts_messages MATCH ?", (word,))
        ]


def test_migrations_are_numbered_one_by_one():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == LATEST_VERSION
    assert all(m.name for m in MIGRATIONS)


def test_an_empty_database_gets_every_migration_once(engine):
    with engine.begin() as conn:
        assert current_version(conn) == 0
        assert migrate(conn) == list(range(1, LATEST_VERSION + 1))
    with engine.begin() as conn:
        assert migrate(conn) == []
        assert current_version(conn) == LATEST_VERSION
        recorded = conn.exec_driver_sql("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert recorded == [(m.version, m.name) for m in MIGRATIONS]
    tables = set(inspect(engine).get_table_names())
    assert {"projects", "agents", "messages", "message_recipients", "file_reservations", "archive_outbox"} <= tables
    assert {"attachment_blobs", "message_summaries", "window_identities", "fts_messages"} <= tables


def test_an_older_database_gets_only_the_missing_migrations_and_keeps_its_rows(engine):
    _apply_up_to(engine, 1)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO projects(slug, human_key, created_at) VALUES ('p', '/work/p', '2026-01-01 00:00:00.000000')"
        )
        conn.exec_driver_sql(
            "INSERT INTO agents(project_id, name, name_key, program, model, task_description, inception_ts, "
            "last_active_ts, attachments_policy, contact_policy) VALUES (1, 'BlueLake', 'bluelake', 'p', 'm', '', "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'auto', 'auto')"
        )
        conn.exec_driver_sql(
            "INSERT INTO messages(project_id, sender_id, subject, body_md, importance, ack_required, created_ts, "
            "attachments) VALUES (1, 1, 'Quarterly zebra report', 'body', 'normal', 0, "
            "'2026-01-01 00:00:00.000000', '[]')"
        )
        assert current_version(conn) == 1
        assert migrate(conn) == list(range(2, LATEST_VERSION + 1))
    assert _search(engine, "zebra") == [1]  # mail written before the index existed is searchable
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM projects").scalar() == 1
        outbox = {c["name"] for c in inspect(conn).get_columns("archive_outbox")}
    assert {"attempts", "last_error", "failed_ts", "retry_ts"} <= outbox


def test_the_search_index_follows_edits_and_can_be_rebuilt(engine):
    with engine.begin() as conn:
        migrate(conn)
        conn.exec_driver_sql(
            "INSERT INTO projects(slug, human_key, created_at) VALUES ('p', '/work/p', '2026-01-01 00:00:00.000000')"
        )
        conn.exec_driver_sql(
            "INSERT INTO agents(project_id, name, name_key, program, model, task_description, inception_ts, "
            "last_active_ts, attachments_policy, contact_policy) VALUES (1, 'BlueLake', 'bluelake', 'p', 'm', '', "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'auto', 'auto')"
        )
        conn.exec_driver_sql(
            "INSERT INTO messages(project_id, sender_id, subject, body_md, importance, ack_required, created_ts, "
            "attachments) VALUES (1, 1, 'Walrus', 'body', 'normal', 0, '2026-01-01 00:00:00.000000', '[]')"
        )
    assert _search(engine, "walrus") == [1]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE messages SET subject = 'Narwhal' WHERE id = 1")
    assert _search(engine, "walrus") == [] and _search(engine, "narwhal") == [1]
    with engine.begin() as conn:
        rebuild_fts(conn)
    assert _search(engine, "narwhal") == [1]
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM messages WHERE id = 1")
    assert _search(engine, "narwhal") == []
