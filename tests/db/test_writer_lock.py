"""Writers of one database queue on a lock file across processes instead of polling SQLite."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import insert

from mcp_agent_mail.db import run_write, schema
from mcp_agent_mail.db.writer_lock import lock_path
from mcp_agent_mail.timeutil import utcnow

pytestmark = pytest.mark.sqlite_only

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


async def add_project(slug: str) -> str:
    async def work(session: Any) -> str:
        await session.execute(insert(schema.projects).values(slug=slug, human_key=f"/{slug}", created_at=utcnow()))
        return slug

    return await run_write(work)


async def test_a_write_waits_for_another_process_holding_the_writers_lock(isolated_env):
    await add_project("before")
    path = lock_path(isolated_env["db_path"])
    assert path.exists() and path.parent == isolated_env["db_path"].parent
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "0.6"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert await add_project("after") == "after"
        assert time.monotonic() - started >= 0.4
    finally:
        holder.kill()
        holder.wait(timeout=10)


async def test_a_lock_held_past_the_busy_timeout_leaves_the_decision_to_sqlite(isolated_env, monkeypatch):
    from mcp_agent_mail.config import clear_settings_cache

    monkeypatch.setenv("DATABASE_BUSY_TIMEOUT_MS", "300")
    clear_settings_cache()
    await add_project("first")
    path = lock_path(isolated_env["db_path"])
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert await add_project("second") == "second"  # SQLite's own lock is free, so the write goes through
        assert 0.2 <= time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait(timeout=10)
