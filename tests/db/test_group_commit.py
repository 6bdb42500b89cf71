"""Group commit: concurrent writes share transactions, each write still stands or falls alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import insert, text

from db_kit import count as count_rows
from db_kit import on_sqlite, query
from mcp_agent_mail.db import run_write
from mcp_agent_mail.db.engine import write_batches
from mcp_agent_mail.errors import ReservationActiveError
from mcp_agent_mail.timeutil import utcnow


def add_project(slug: str, *, fail: bool = False) -> Any:
    """A write unit inserting one project (and refusing afterwards when ``fail``)."""

    async def work(session: Any) -> str:
        from mcp_agent_mail.db import schema

        await session.execute(insert(schema.projects).values(slug=slug, human_key=f"/{slug}", created_at=utcnow()))
        if fail:
            raise ReservationActiveError(f"{slug} refused after writing", hint="nothing of it may remain")
        return slug

    return work


def assert_refused_alone(outcomes: list[Any], refused: Callable[[int], bool], prefix: str) -> None:
    """Check that the writes ``refused`` picks failed with their own refusal and the others returned their slug."""
    for i, outcome in enumerate(outcomes):
        if refused(i):
            assert isinstance(outcome, ReservationActiveError), outcome
        else:
            assert outcome == f"{prefix}{i}"
    assert slugs() == {f"{prefix}{i}" for i in range(len(outcomes)) if not refused(i)}


def slugs() -> set[str]:
    """The slugs of the projects the database holds (read on a connection of its own)."""
    return {row[0] for row in query("SELECT slug FROM projects")}


async def fails_at_commit(session: Any) -> str:
    """A write unit whose statements succeed but whose COMMIT fails (a deferred foreign key left dangling)."""
    if on_sqlite():
        # An agent of a project that does not exist, checked only at COMMIT.
        await session.execute(text("PRAGMA defer_foreign_keys=ON"))
        await session.execute(
            text(
                "INSERT INTO agents (project_id, name, name_key, program, model, task_description, inception_ts,"
                " last_active_ts, attachments_policy, contact_policy) VALUES (999, 'Ghost', 'ghost', 'p', 'm', '',"
                " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'auto', 'auto')"
            )
        )
    else:
        # The schema's keys are checked at once on PostgreSQL; a deferrable one of the transaction's own is not.
        await session.execute(text("CREATE TEMP TABLE ghost_parent (id integer PRIMARY KEY) ON COMMIT DROP"))
        await session.execute(
            text(
                "CREATE TEMP TABLE ghost_child (parent integer REFERENCES ghost_parent DEFERRABLE INITIALLY DEFERRED)"
                " ON COMMIT DROP"
            )
        )
        await session.execute(text("INSERT INTO ghost_child VALUES (999)"))
    return "orphan"


async def test_concurrent_writes_all_commit_in_fewer_transactions(isolated_env):
    before = write_batches()
    results = await asyncio.gather(*(run_write(add_project(f"p{i}")) for i in range(60)))
    assert results == [f"p{i}" for i in range(60)]
    assert slugs() == {f"p{i}" for i in range(60)}
    assert write_batches() - before < 60


async def test_a_failing_write_is_rolled_back_alone(isolated_env):
    outcomes = await asyncio.gather(
        *(run_write(add_project(f"q{i}", fail=i % 3 == 1)) for i in range(12)), return_exceptions=True
    )
    assert_refused_alone(outcomes, lambda i: i % 3 == 1, "q")


async def test_a_failed_commit_fails_every_write_of_its_batch_and_keeps_none(isolated_env):
    await run_write(add_project("seed"))
    outcomes = await asyncio.gather(
        run_write(add_project("r1")), run_write(fails_at_commit), run_write(add_project("r2")), return_exceptions=True
    )
    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert failed, outcomes
    # Whatever shared the orphan's transaction failed with it; nothing acknowledged is missing.
    stored = slugs()
    for slug, outcome in zip(("r1", None, "r2"), outcomes, strict=True):
        if slug is not None:
            assert (slug in stored) == (outcome == slug), (slug, outcome)
    assert count_rows("agents", "name = 'Ghost'") == 0
    assert await run_write(add_project("after")) == "after"


@pytest.mark.parametrize("count", [1, 5])
async def test_results_arrive_only_after_commit(isolated_env, count):
    seen: list[set[str]] = []

    async def one(i: int) -> None:
        await run_write(add_project(f"s{count}-{i}"))
        seen.append(slugs())

    await asyncio.gather(*(one(i) for i in range(count)))
    for i, visible in enumerate(seen):
        assert len(visible) >= i + 1
    assert all(f"s{count}-{i}" in seen[-1] for i in range(count))


async def test_a_write_the_database_refuses_is_rolled_back_alone_and_its_batch_commits(isolated_env):
    await run_write(add_project("taken"))
    outcomes = await asyncio.gather(
        *(run_write(add_project("taken" if i % 4 == 2 else f"s{i}")) for i in range(12)), return_exceptions=True
    )
    for i, outcome in enumerate(outcomes):
        if i % 4 == 2:  # a duplicate slug: the database's own refusal, which spoils the transaction on PostgreSQL
            assert isinstance(outcome, BaseException), outcome
        else:
            assert outcome == f"s{i}"
    assert slugs() == {"taken"} | {f"s{i}" for i in range(12) if i % 4 != 2}


@pytest.fixture
def savepoints() -> Any:
    """The SAVEPOINT statements the writers' engine sends meanwhile."""
    from sqlalchemy import event

    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.db.engine import _get_write_engine

    engine = _get_write_engine(get_settings())
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("SAVEPOINT"):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def counted(runs: list[str], slug: str, *, refuse_first: bool = False) -> Any:
    """A write unit inserting one project that notes each run; with ``refuse_first`` it refuses before writing."""

    async def work(session: Any) -> str:
        runs.append(slug)
        if refuse_first:
            raise ReservationActiveError(f"{slug} refused before writing", hint="nothing to undo")
        return await add_project(slug)(session)

    return work


async def test_a_batch_of_writes_that_succeed_or_refuse_before_writing_runs_once_without_savepoints(
    isolated_env, savepoints
):
    runs: list[str] = []
    before = write_batches()
    outcomes = await asyncio.gather(
        *(run_write(counted(runs, f"t{i}", refuse_first=i % 5 == 3)) for i in range(30)), return_exceptions=True
    )
    assert_refused_alone(outcomes, lambda i: i % 5 == 3, "t")
    assert write_batches() - before < 30  # they shared transactions ...
    assert sorted(runs) == sorted(f"t{i}" for i in range(30))  # ... each ran once ...
    assert savepoints == []  # ... and no savepoint was needed


async def _in_one_batch(works: list[Any]) -> list[Any]:
    """Run the write units as one batch: queued while the writer thread is held up by another write."""
    gate = threading.Event()

    async def hold(_session: Any) -> str:
        gate.wait(10)  # units run on the writer thread: this keeps it busy while the others queue
        return "held"

    held = asyncio.ensure_future(run_write(hold))
    await asyncio.sleep(0.05)
    queued = [asyncio.ensure_future(run_write(work)) for work in works]
    await asyncio.sleep(0.05)
    gate.set()
    assert await held == "held"
    return list(await asyncio.gather(*queued, return_exceptions=True))


async def test_a_write_failing_after_a_change_runs_its_batch_again_with_savepoints(isolated_env, savepoints):
    runs: list[str] = []

    async def fails_after_writing(session: Any) -> str:
        runs.append("bad")
        return await add_project("bad", fail=True)(session)

    before = write_batches()
    outcomes = await _in_one_batch([*(counted(runs, f"u{i}") for i in range(3)), fails_after_writing,
                                    *(counted(runs, f"u{i}") for i in range(3, 6))])  # fmt: skip
    assert outcomes[:3] + outcomes[4:] == [f"u{i}" for i in range(6)]
    assert isinstance(outcomes[3], ReservationActiveError)
    assert slugs() == {f"u{i}" for i in range(6)}
    assert write_batches() - before == 2  # the held write's, then one batch run twice
    # The first run stopped at the failure and was rolled back; the second ran all seven behind savepoints.
    assert runs == ["u0", "u1", "u2", "bad", "u0", "u1", "u2", "bad", "u3", "u4", "u5"]
    assert len(savepoints) == 7


async def test_a_write_refusing_before_it_changes_anything_costs_its_batch_nothing(isolated_env, savepoints):
    runs: list[str] = []
    outcomes = await _in_one_batch([counted(runs, f"v{i}", refuse_first=i == 2) for i in range(5)])
    assert isinstance(outcomes[2], ReservationActiveError)
    assert [outcome for i, outcome in enumerate(outcomes) if i != 2] == ["v0", "v1", "v3", "v4"]
    assert runs == ["v0", "v1", "v2", "v3", "v4"] and savepoints == []
    assert slugs() == {"v0", "v1", "v3", "v4"}
