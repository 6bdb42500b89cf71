"""PostgreSQL: writers of every process take turns, failures of the server get codes, pools recover by themselves.

Another server process is played by a plain psycopg connection to the same database: what it holds and commits
is what a second ``mcp-agent-mail serve`` would hold and commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from db_kit import count, query
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import (
    ensure_schema,
    reset_database_state,
    run_read,
    run_write,
    schema,
    sync_write_connection,
)
from mcp_agent_mail.db.dialects import WRITER_LOCK_KEY
from mcp_agent_mail.errors import InvalidArgumentError, UnavailableError
from mcp_agent_mail.services.health import health_check
from mcp_agent_mail.timeutil import utcnow
from pg_cluster import on_postgresql

pytestmark = pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL only (MCP_AGENT_MAIL_TEST_BACKEND=postgresql)")

_PROJECTS = select(schema.projects.c.slug).order_by(schema.projects.c.id)


def _lock_parts(key: int) -> tuple[int, int]:
    """Return the (classid, objid) under which pg_locks shows a bigint advisory lock."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


@contextlib.contextmanager
def other_process(pg_cluster: Any) -> Iterator[Any]:
    """Yield a psycopg connection to the test's database, standing for another server process."""
    import psycopg

    database = make_url(get_settings().database.url).database
    with psycopg.connect(pg_cluster.conninfo(database)) as conn:
        yield conn


def waiting_writers(pg_cluster: Any) -> int:
    """Return how many sessions wait for the database's write lock."""
    classid, objid = _lock_parts(WRITER_LOCK_KEY)
    with pg_cluster.admin() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s AND objid = %s",
            (classid, objid),
        ).fetchone()
    return int(row[0])


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (in a thread) until it holds."""
    while not await asyncio.to_thread(condition):
        await asyncio.sleep(0.01)


# Each write names the project it adds after how many it sees: a lost or interleaved update repeats a name.


async def _numbered_run_write() -> str:
    async def work(session: Any) -> str:
        seen = list((await session.execute(_PROJECTS)).scalars())
        slug = f"after-{len(seen)}"
        await session.execute(insert(schema.projects).values(slug=slug, human_key=f"/{slug}", created_at=utcnow()))
        return slug

    return await run_write(work)


async def _numbered_sync_write() -> str:
    def write() -> str:
        with sync_write_connection() as conn:
            seen = list(conn.execute(_PROJECTS).scalars())
            slug = f"after-{len(seen)}"
            conn.execute(insert(schema.projects).values(slug=slug, human_key=f"/{slug}", created_at=utcnow()))
        return slug

    return await asyncio.to_thread(write)


WRITE_PATHS: dict[str, Callable[[], Awaitable[str]]] = {
    "run_write": _numbered_run_write,
    "sync_write_connection": _numbered_sync_write,
}


async def test_a_write_begins_and_takes_the_writers_lock_in_one_round_trip_and_leaves_no_transaction_open(
    isolated_env, pg_cluster
):
    from sqlalchemy import event

    from mcp_agent_mail.db.engine import _get_write_engine

    ensure_schema()
    engine = _get_write_engine(get_settings())
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await _numbered_run_write() == "after-0"
        assert await _numbered_run_write() == "after-1"  # the second one sees the first one's COMMIT
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sent.count(f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})") == 2
    assert not any(statement.strip().upper() == "BEGIN" for statement in sent)
    database = make_url(get_settings().database.url).database
    with pg_cluster.admin() as admin:
        open_transactions = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state LIKE 'idle in transaction%%'",
            (database,),
        ).fetchone()
    assert open_transactions[0] == 0


@pytest.mark.parametrize("path", sorted(WRITE_PATHS))
async def test_a_write_waits_for_another_process_writer_and_sees_what_it_committed(isolated_env, pg_cluster, path):
    ensure_schema()
    with other_process(pg_cluster) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
        other.execute(
            "INSERT INTO projects (slug, human_key, created_at) VALUES ('theirs', '/theirs', now())",
        )
        ours = asyncio.create_task(WRITE_PATHS[path]())
        await wait_until(lambda: waiting_writers(pg_cluster) == 1)
        assert not ours.done()
        other.commit()
    assert await ours == "after-1"  # it read after their COMMIT, not before
    assert [row[0] for row in query("SELECT slug FROM projects ORDER BY id")] == ["theirs", "after-1"]


async def test_a_writer_held_up_past_the_busy_timeout_is_unavailable_and_changes_nothing(
    isolated_env, pg_cluster, monkeypatch
):
    monkeypatch.setenv("DATABASE_BUSY_TIMEOUT_MS", "300")
    clear_settings_cache()
    ensure_schema()
    with other_process(pg_cluster) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
        with pytest.raises(UnavailableError) as caught:
            await _numbered_run_write()
        other.rollback()
    assert caught.value.data["retryable"] is True and "busy" in caught.value.message
    assert count("projects") == 0
    assert await _numbered_run_write() == "after-0"


async def test_two_writers_of_two_processes_never_interleave(isolated_env, pg_cluster):
    """Concurrent check-then-insert writes from this process and another: every name is unique."""
    ensure_schema()

    def theirs(rounds: int) -> None:
        with other_process(pg_cluster) as other:
            for _ in range(rounds):
                with other.transaction():
                    other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
                    seen = other.execute("SELECT count(*) FROM projects").fetchone()[0]
                    other.execute(
                        "INSERT INTO projects (slug, human_key, created_at) VALUES (%s, %s, now())",
                        (f"after-{seen}", f"/after-{seen}"),
                    )

    thread = threading.Thread(target=theirs, args=(40,))
    thread.start()
    ours = await asyncio.gather(*(_numbered_run_write() for _ in range(20)))
    ours += [await _numbered_run_write() for _ in range(10)]  # one at a time, each its own transaction
    thread.join()
    slugs = [row[0] for row in query("SELECT slug FROM projects ORDER BY id")]
    assert len(ours) == 30 and len(slugs) == 70
    assert sorted(slugs) == sorted(f"after-{n}" for n in range(70))


async def test_text_the_database_cannot_hold_is_invalid_argument(isolated_env):
    async def work(session: Any) -> None:
        await session.execute(insert(schema.projects).values(slug="nul", human_key="/a\x00b", created_at=utcnow()))

    with pytest.raises(InvalidArgumentError) as caught:
        await run_write(work)
    assert "NUL" in (caught.value.hint or "")
    assert count("projects") == 0


async def test_a_connection_the_server_ends_mid_write_is_unavailable_and_the_next_write_recovers(isolated_env):
    async def killed(session: Any) -> None:
        await session.execute(insert(schema.projects).values(slug="lost", human_key="/lost", created_at=utcnow()))
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with pytest.raises(UnavailableError) as caught:
        await run_write(killed)
    assert caught.value.data["retryable"] is True
    assert "mcp_agent_mail" not in caught.value.render()  # no user, password or host in the text
    assert await _numbered_run_write() == "after-0"
    assert [row[0] for row in query("SELECT slug FROM projects")] == ["after-0"]


async def test_pooled_connections_the_server_dropped_are_replaced_without_an_error(isolated_env, pg_cluster):
    await _numbered_run_write()
    assert await run_read(lambda session: session.scalar(select(schema.projects.c.slug))) == "after-0"
    database = make_url(get_settings().database.url).database
    with pg_cluster.admin() as admin:  # as a restart does to every open connection
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
    assert await run_read(lambda session: session.scalar(select(schema.projects.c.slug))) == "after-0"
    assert await _numbered_run_write() == "after-1"
    assert await _numbered_sync_write() == "after-2"


def _closed_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_server_is_unavailable_with_a_hint_and_never_shows_the_password(isolated_env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://mail:pa55word-xyz@127.0.0.1:{_closed_port()}/mail")
    reset_database_state()
    with pytest.raises(UnavailableError) as caught:
        await run_read(lambda session: session.scalar(select(1)))
    error = caught.value
    assert error.code == "UNAVAILABLE" and error.data["retryable"] is True
    assert "Retry" in (error.hint or "")
    assert "pa55word" not in error.render()
    health = await health_check()
    assert health["database_backend"] == "postgresql"
    assert health["status"] == "degraded" and health["database_error"] == "UNAVAILABLE"
    assert "pa55word" not in repr(health)


async def test_health_names_the_backend_postgresql(isolated_env):
    health = await health_check()
    assert health["database"] == "ok" and health["database_backend"] == "postgresql"


@pytest.mark.parametrize(
    "sample",
    [
        "Plain ASCII: src/app.py, POL-358 and v1.2!",
        "Café crème à la Ægir — Ελληνικά and Кириллица",
        "ASCII first, then one accent: naïve",
        "",
    ],
)
def test_the_search_folding_gives_the_words_python_gives_for_ascii_and_accented_text(isolated_env, sample):
    import re

    from mcp_agent_mail.db import sync_read_connection
    from mcp_agent_mail.db.fulltext.fold import lexemes
    from mcp_agent_mail.db.fulltext.pg import FOLD_FUNCTION

    ensure_schema()
    with sync_read_connection() as conn:
        folded = conn.execute(text(f"SELECT {FOLD_FUNCTION}(:sample)"), {"sample": sample}).scalar_one()
        applied = conn.execute(text("SELECT max(version) FROM schema_version")).scalar_one()
    assert [word for word in re.split(" +", folded) if word] == lexemes(sample)
    assert applied >= 10  # the migration that let ASCII text skip the table of accented letters


def _search_index_options() -> list[str]:
    (options,) = query("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname = 'ix_messages_search_vector'")[0]
    return list(options)


async def test_migration_11_moves_pending_search_entries_into_the_index_and_keeps_it_without_a_pending_list(
    isolated_env,
):
    from mcp_agent_mail.db.migrations import migrate
    from mcp_agent_mail.services.identity.agents import register_agent
    from mcp_agent_mail.services.identity.projects import ensure_project
    from mcp_agent_mail.services.mail.messages import send_message
    from mcp_agent_mail.services.mail.search import search_messages

    ensure_schema()
    assert "fastupdate=off" in _search_index_options()  # a new mailbox's index has no pending list
    with sync_write_connection() as conn:  # back to version 10: new entries wait in a pending list
        conn.exec_driver_sql("ALTER INDEX ix_messages_search_vector SET (fastupdate = on)")
        conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version >= 11))
    await ensure_project("/work/pending")
    for name in ("GreenCastle", "BlueLake"):
        await register_agent("/work/pending", "pytest", "test-model", name=name)
    for n in range(30):
        await send_message("/work/pending", "GreenCastle", ["BlueLake"], f"step {n}", f"zebracrossing note {n}")

    with sync_write_connection() as conn:
        assert migrate(conn)[0] == 11
    assert "fastupdate=off" in _search_index_options()
    with sync_write_connection() as conn:  # nothing left to move: the migration emptied the list
        assert conn.exec_driver_sql("SELECT gin_clean_pending_list('ix_messages_search_vector')").scalar() == 0
    await send_message("/work/pending", "BlueLake", ["GreenCastle"], "step 30", "zebracrossing note 30")
    hits = await search_messages("/work/pending", "zebracrossing", limit=50)
    assert sorted(hit["subject"] for hit in hits) == sorted(f"step {n}" for n in range(31))


async def test_a_connection_lost_in_the_middle_of_a_batch_fails_every_write_of_it_as_unavailable(isolated_env):
    import time

    ensure_schema()

    def adds(slug: str, *, pause: float = 0.0, drop: bool = False) -> Callable[[Any], Awaitable[str]]:
        async def work(session: Any) -> str:
            await session.execute(insert(schema.projects).values(slug=slug, human_key=f"/{slug}", created_at=utcnow()))
            time.sleep(pause)  # holds the writer so that the writes queued meanwhile share the next batch
            if drop:  # the server goes away under this write, as in a restart
                await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return slug

        return work

    first = asyncio.create_task(run_write(adds("first", pause=0.3)))
    await asyncio.sleep(0.1)
    batch = [run_write(adds("before")), run_write(adds("dropped", drop=True)), run_write(adds("after"))]
    outcomes = await asyncio.gather(*batch, return_exceptions=True)
    assert await first == "first"
    for outcome in outcomes:
        assert isinstance(outcome, UnavailableError), outcome
        assert outcome.code == "UNAVAILABLE"
    assert [row[0] for row in query("SELECT slug FROM projects ORDER BY id")] == ["first"]
    assert await run_write(adds("later")) == "later"  # the pool starts afresh
