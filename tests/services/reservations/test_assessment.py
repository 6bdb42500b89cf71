"""Judging one reservation for a person: holder, status and staleness, read without changing anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update

from mcp_agent_mail.db import get_session, schema, sync_write_connection
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.assessment import assess_reservation
from mcp_agent_mail.services.reservations.leases import release_reservations, reserve_paths
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/nowhere/assessment-project"  # not a directory here: the workspace cannot show activity


def age_agent(name: str, hours: int = 3) -> None:
    a = schema.agents
    with sync_write_connection() as conn:
        conn.execute(update(a).where(a.c.name == name).values(last_active_ts=utcnow() - timedelta(hours=hours)))


async def counts() -> tuple[int, int, int]:
    async with get_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM file_reservations WHERE released_ts IS NULL),"
                    " (SELECT count(*) FROM archive_outbox), (SELECT count(*) FROM agents)"
                )
            )
        ).one()
    return tuple(row)  # type: ignore[return-value]


@pytest.fixture
async def lease(isolated_env) -> int:
    await ensure_project(PROJECT)
    await register_agent(PROJECT, "pytest", "m", name="BlueLake")
    granted = await reserve_paths(PROJECT, "BlueLake", ["src/**"], reason="refactor")
    return int(granted["granted"][0]["id"])


async def test_a_recently_active_holder_is_not_stale(lease):
    before = await counts()
    found = await assess_reservation(PROJECT, lease)
    assert (found["status"], found["stale"], found["agent"], found["path_pattern"]) == (
        "active",
        False,
        "BlueLake",
        "src/**",
    )
    assert "agent_recently_active" in found["stale_reasons"]
    assert found["project_key"] == PROJECT and not found["project_archived"]
    assert await counts() == before


async def test_an_inactive_holder_without_mail_is_stale_with_the_evidence(lease):
    age_agent("BlueLake")
    found = await assess_reservation(PROJECT, lease)
    assert found["stale"] is True
    assert found["stale_reasons"][0].startswith("agent_inactive>")
    assert "workspace_not_on_server" in found["stale_reasons"]
    assert "last_agent_activity_ts" in found


async def test_released_reservations_are_reported_as_released(lease):
    await release_reservations(PROJECT, "BlueLake")
    found = await assess_reservation(PROJECT, lease)
    assert found["status"] == "released" and "stale" not in found


async def test_unknown_or_bad_ids_are_refused(lease):
    with pytest.raises(NotFoundError, match="not found"):
        await assess_reservation(PROJECT, lease + 100)
    with pytest.raises(InvalidArgumentError):
        await assess_reservation(PROJECT, 0)
    with pytest.raises(NotFoundError):
        await assess_reservation("no-such-project", lease)
