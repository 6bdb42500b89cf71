"""PostgreSQL: one process of all those sharing the database writes the archive, and a dead writer blocks nobody.

Another machine's archive writer is played by a plain psycopg connection holding the archive's advisory lock:
it shares the database, not this machine's lock file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from mcp_agent_mail.archive import flush_pending, pending_count
from mcp_agent_mail.archive.flush import try_flush
from mcp_agent_mail.archive.repo import ARCHIVE_LOCK_NAME, confirm_writer_lock, writer_lock
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.dialects import lock_key
from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.services.health import archive_locks
from pg_cluster import on_postgresql

pytestmark = pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL only (MCP_AGENT_MAIL_TEST_BACKEND=postgresql)")

PROFILE = "projects/work-demo-repo/agents/Alice/profile.json"


@contextlib.contextmanager
def writer_elsewhere(pg_cluster: Any, settings: Settings) -> Iterator[Any]:
    """Hold the archive's database lock from another connection (another machine's writer) until the block ends."""
    import psycopg

    database = make_url(settings.database.url).database
    with psycopg.connect(pg_cluster.conninfo(database), autocommit=True) as conn:
        assert conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(ARCHIVE_LOCK_NAME),)).fetchone() == (True,)
        yield conn
        # Leaving closes the connection without unlocking, as when that writer's process dies.


def committed(archive: Any, path: str) -> bool:
    """Tell whether the archive's last commit holds ``path``."""
    return bool(archive.git("ls-tree", "--name-only", "HEAD", path).strip())


def test_a_writer_elsewhere_keeps_this_process_from_writing_until_it_goes(settings, seed, archive, pg_cluster):
    pid = seed.project()
    seed.agent(pid, "Alice")
    with writer_elsewhere(pg_cluster, settings):
        assert try_flush(settings) is None  # skipped: the holder flushes everything pending
        with pytest.raises(UnavailableError) as caught:
            flush_pending(settings, timeout=0.3)
        assert "Another process is writing the archive" in (caught.value.hint or "")
        assert pending_count(settings) == 2
        assert not (Path(settings.storage.root) / PROFILE).exists()
    # Its connection is gone, and its lock with it (as soon as its server process notices): the next flush here
    # writes everything, once.
    assert flush_pending(settings, timeout=10) == 2
    assert pending_count(settings) == 0
    assert committed(archive, PROFILE)
    assert try_flush(settings) == 0
    archive.assert_clean()


async def test_the_lock_report_names_a_writer_elsewhere_and_its_git_locks_are_not_stale(
    settings, seed, archive, pg_cluster
):
    seed.project()
    flush_pending(settings)
    git_lock = Path(settings.storage.root) / ".git" / "index.lock"
    git_lock.write_bytes(b"")
    with writer_elsewhere(pg_cluster, settings):
        report = await archive_locks()
        assert report["writer_lock"]["held"] is True
        assert "backend pid" in report["writer_lock"]["database_holder"]
        assert [lock["stale_suspected"] for lock in report["locks"]] == [False]
    git_lock.unlink()
    for _ in range(1000):  # until that writer's server process has noticed its client is gone
        report = await archive_locks()
        if report["writer_lock"]["database_holder"] is None:
            break
        await asyncio.sleep(0.01)
    assert report["writer_lock"]["held"] is False and report["writer_lock"]["database_holder"] is None


def test_a_writer_that_lost_its_database_lock_commits_nothing(settings, seed, archive, pg_cluster):
    pid = seed.project()
    flush_pending(settings)
    head = archive.git("rev-parse", "HEAD")
    seed.agent(pid, "Alice")
    root = Path(settings.storage.root)
    key = lock_key(ARCHIVE_LOCK_NAME) & 0xFFFF_FFFF_FFFF_FFFF
    with writer_lock(root, 5.0, settings) as acquired:
        assert acquired
        confirm_writer_lock(root)  # held: returns quietly
        with pg_cluster.admin() as admin:  # its connection dies (a network cut, a server restart)
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s",
                (key >> 32, key & 0xFFFF_FFFF),
            )
        with pytest.raises(UnavailableError) as caught:
            confirm_writer_lock(root)
        assert "lost its database lock" in caught.value.message
    assert archive.git("rev-parse", "HEAD") == head
    assert flush_pending(settings) == 1  # the lock is free again, and the row was kept
    assert committed(archive, PROFILE)
    archive.assert_clean()
