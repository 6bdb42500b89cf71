"""run_read: one snapshot per read transaction, coded errors, and a busy database never blocks the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest
from sqlalchemy import bindparam, func, insert, select

from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import ensure_schema, run_read, run_write, schema, sync_write_connection
from mcp_agent_mail.errors import InvalidArgumentError, UnavailableError
from mcp_agent_mail.timeutil import utcnow

_COUNT = select(func.count()).select_from(schema.projects)


async def _add_project(slug: str) -> None:
    async def work(session: Any) -> None:
        await session.execute(insert(schema.projects).values(slug=slug, human_key=f"/{slug}", created_at=utcnow()))

    await run_write(work)


async def _count_around_a_commit(session: Any) -> tuple[int, int]:
    """Count projects, let another connection commit one more while this read is open, count again."""
    before = (await session.execute(_COUNT)).scalar_one()
    with sync_write_connection() as other:
        other.execute(insert(schema.projects).values(slug="second", human_key="/second", created_at=utcnow()))
    return before, (await session.execute(_COUNT)).scalar_one()


async def test_one_read_sees_one_snapshot(isolated_env):
    await _add_project("first")
    assert await run_read(_count_around_a_commit) == (1, 1)
    assert await run_read(lambda session: session.scalar(_COUNT)) == 2


async def test_out_of_range_argument_is_invalid_argument(isolated_env):
    statement = select(schema.projects.c.id).where(schema.projects.c.id == bindparam("id"))

    async def work(session: Any) -> Any:
        return (await session.execute(statement, {"id": 2**70})).first()

    with pytest.raises(InvalidArgumentError) as caught:
        await run_read(work)
    assert caught.value.hint


async def test_a_read_may_only_await_its_session(isolated_env):
    async def work(session: Any) -> int:
        await asyncio.sleep(0)
        return 1

    with pytest.raises(RuntimeError, match="awaited something other than its session"):
        await run_read(work)
    assert await run_read(lambda session: session.scalar(_COUNT)) == 0


@pytest.mark.sqlite_only
async def test_busy_database_is_unavailable_and_the_loop_keeps_running(isolated_env, monkeypatch):
    monkeypatch.setenv("DATABASE_BUSY_TIMEOUT_MS", "600")
    clear_settings_cache()
    ensure_schema()  # no pooled connection is open yet, so another one can take the file exclusively
    locker = sqlite3.connect(isolated_env["db_path"], isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        with pytest.raises(UnavailableError) as caught:
            await run_read(lambda session: session.scalar(_COUNT))
    finally:
        beat.cancel()
        locker.execute("ROLLBACK")
        locker.close()
    waited = time.monotonic() - started
    assert waited >= 0.5
    assert ticks >= waited / 0.01 / 3, f"event loop stalled: {ticks} ticks in {waited:.2f}s"
    assert caught.value.code == "UNAVAILABLE" and caught.value.data == {"retryable": True}


async def test_a_read_without_a_snapshot_sees_each_commit_on_a_database_server_and_reads_as_usual_on_sqlite(
    isolated_env,
):
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.db import is_sqlite

    await _add_project("first")
    seen = await run_read(_count_around_a_commit, snapshot=False)
    # SQLite lives in the process, where a snapshot costs no round trip, so it keeps one.
    assert seen == ((1, 1) if is_sqlite(get_settings().database.url) else (1, 2))
