"""Group commit: concurrent writes share transactions, each write still stands or falls alone."""

from __future__ import annotations

import asyncio
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
    for i, outcome in enumerate(outcomes):
        if i % 3 == 1:
            assert isinstance(outcome, ReservationActiveError), outcome
        else:
            assert outcome == f"q{i}"
    assert slugs() == {f"q{i}" for i in range(12) if i % 3 != 1}


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
