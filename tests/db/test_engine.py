"""Engines and sessions (db.engine): the database file and its settings, transactions, and coded database errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from db_kit import query
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import (
    ensure_schema,
    get_session,
    is_sqlite,
    require_sqlite_path,
    run_write,
    schema,
    sqlite_path_from_url,
    sync_read_connection,
    sync_write_connection,
)
from mcp_agent_mail.db.engine import busy_error, database_error
from mcp_agent_mail.db.migrations import LATEST_VERSION
from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, UnavailableError
from mcp_agent_mail.timeutil import utcnow


def _project(slug: str) -> dict[str, Any]:
    return {"slug": slug, "human_key": f"/work/{slug}", "created_at": utcnow()}


def _slugs(url: str) -> list[str]:
    return [row[0] for row in query("SELECT slug FROM projects ORDER BY id", url=url)]


def test_sqlite_urls_name_their_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sqlite_path_from_url("sqlite+aiosqlite:////var/mail/box.sqlite3") == Path("/var/mail/box.sqlite3")
    assert sqlite_path_from_url("sqlite:///relative/box.sqlite3") == tmp_path.resolve() / "relative" / "box.sqlite3"
    assert sqlite_path_from_url("sqlite+aiosqlite:///~/box.sqlite3") == tmp_path / "home" / "box.sqlite3"
    for url in ("sqlite+aiosqlite:///:memory:", "sqlite://", "postgresql+asyncpg://u:p@db/mail"):
        assert sqlite_path_from_url(url) is None
    assert is_sqlite("sqlite+aiosqlite:///x.db") and not is_sqlite("postgresql://db/mail")


@pytest.mark.sqlite_only
def test_operations_on_a_database_file_refuse_other_backends(isolated_env, monkeypatch):
    assert require_sqlite_path() == isolated_env["db_path"]
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://user:secret@db.example/mail")
    clear_settings_cache()
    with pytest.raises(ConfigurationError) as caught:
        require_sqlite_path()
    assert "postgresql+asyncpg" in caught.value.message and "secret" not in caught.value.message
    assert "sqlite+aiosqlite:///" in (caught.value.hint or "")


def test_the_schema_is_created_once_in_a_wal_file_with_foreign_keys_enforced(isolated_env, monkeypatch, tmp_path):
    nested = tmp_path / "deep" / "er" / "mail.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{nested}")
    clear_settings_cache()
    ensure_schema()
    ensure_schema()
    assert nested.is_file()
    with sqlite3.connect(nested) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (LATEST_VERSION,)
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (LATEST_VERSION,)
    with pytest.raises(IntegrityError), sync_write_connection() as conn:
        conn.execute(
            insert(schema.agents).values(
                project_id=999,
                name="Ghost",
                name_key="ghost",
                program="p",
                model="m",
                task_description="",
                inception_ts=utcnow(),
                last_active_ts=utcnow(),
                attachments_policy="auto",
                contact_policy="auto",
            )
        )


def test_sync_transactions_commit_on_success_and_roll_back_on_error(isolated_env):
    with sync_write_connection() as conn:
        conn.execute(insert(schema.projects).values(**_project("kept")))
    with pytest.raises(RuntimeError), sync_write_connection() as conn:
        conn.execute(insert(schema.projects).values(**_project("dropped")))
        raise RuntimeError("changed my mind")
    with sync_read_connection() as conn:
        assert list(conn.execute(select(schema.projects.c.slug)).scalars()) == ["kept"]


async def test_async_writes_commit_on_success_and_roll_back_on_error(isolated_env):
    async def add(session: Any, slug: str) -> None:
        await session.execute(insert(schema.projects).values(**_project(slug)))

    async def add_then_fail(session: Any) -> None:
        await add(session, "dropped")
        raise RuntimeError("changed my mind")

    await run_write(lambda session: add(session, "kept"))
    with pytest.raises(RuntimeError):
        await run_write(add_then_fail)
    async with get_session() as session:
        assert list((await session.execute(select(schema.projects.c.slug))).scalars()) == ["kept"]


async def test_an_out_of_range_number_is_invalid_argument_in_every_session(isolated_env):
    statement = select(schema.projects).where(schema.projects.c.id == 2**70)
    with pytest.raises(InvalidArgumentError):
        async with get_session() as session:
            await session.execute(statement)
    with pytest.raises(InvalidArgumentError):
        await run_write(lambda session: session.execute(statement))


async def test_a_changed_database_url_is_followed_without_a_restart(
    isolated_env, monkeypatch, tmp_path, new_database_url
):
    async def add(slug: str) -> None:
        async def work(session: Any) -> None:
            await session.execute(insert(schema.projects).values(**_project(slug)))

        await run_write(work)

    await add("first")
    first = get_settings().database.url
    second = new_database_url(tmp_path / "second.sqlite3")
    monkeypatch.setenv("DATABASE_URL", second)
    clear_settings_cache()
    assert get_settings().database.url == second
    await add("second")
    assert _slugs(first) == ["first"]
    assert _slugs(second) == ["second"]


def test_only_busy_and_out_of_range_failures_get_a_code():
    locked = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
    mapped = busy_error(locked)
    assert isinstance(mapped, UnavailableError) and mapped.data == {"retryable": True}
    assert "Nothing was changed" in (mapped.hint or "")
    assert busy_error(OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))) is None
    assert busy_error(ValueError("database is locked")) is None
    assert isinstance(database_error(OverflowError("int too big")), InvalidArgumentError)
    assert isinstance(database_error(locked), UnavailableError)
    assert database_error(RuntimeError("boom")) is None
