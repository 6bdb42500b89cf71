"""A person releasing a stale lease as the human overseer: the tool's staleness rules, its notice, and refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update

from mcp_agent_mail.db import get_session, schema, sync_write_connection
from mcp_agent_mail.errors import ProjectArchivedError, ReservationActiveError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import archive_project
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.inbox import fetch_inbox
from mcp_agent_mail.services.operator_release import OPERATOR_NAME, ensure_operator, release_for_operator
from mcp_agent_mail.services.reservations.leases import release_reservations, reserve_paths
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/nowhere/operator-release"  # not a directory here: the workspace cannot show activity


def age_agent(name: str, hours: int = 3) -> None:
    a = schema.agents
    with sync_write_connection() as conn:
        conn.execute(update(a).where(a.c.name == name).values(last_active_ts=utcnow() - timedelta(hours=hours)))


async def state() -> tuple[int, ...]:
    """Unreleased leases, outbox entries, agents, messages: what a refusal must leave alone."""
    async with get_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM file_reservations WHERE released_ts IS NULL),"
                    " (SELECT count(*) FROM archive_outbox), (SELECT count(*) FROM agents),"
                    " (SELECT count(*) FROM messages)"
                )
            )
        ).one()
    return tuple(row)


@pytest.fixture
async def lease(isolated_env) -> int:
    await ensure_project(PROJECT)
    await register_agent(PROJECT, "pytest", "m", name="BlueLake")
    granted = await reserve_paths(PROJECT, "BlueLake", ["src/**"], reason="refactor")
    return int(granted["granted"][0]["id"])


async def test_a_stale_lease_is_released_and_its_holder_told_by_the_overseer(lease):
    age_agent("BlueLake")
    result = await release_for_operator(PROJECT, lease, note="Needed for the hotfix.")

    assert result["released"] == 1 and result["actor"] == OPERATOR_NAME
    view = result["reservation"]
    assert view["id"] == lease and view["released_ts"] and view["notified"] is True
    assert view["stale_reasons"][0].startswith("agent_inactive>")
    assert result["assessment"]["stale"] is True
    inbox = await fetch_inbox(PROJECT, "BlueLake", include_bodies=True)
    (notice,) = inbox
    assert notice["from"] == OPERATOR_NAME and notice["subject"].endswith("src/**")
    assert "Needed for the hotfix." in notice["body_md"]


async def test_a_holder_who_may_still_be_working_keeps_the_lease_and_nothing_changes(lease):
    before = await state()
    with pytest.raises(ReservationActiveError, match="agent_recently_active"):
        await release_for_operator(PROJECT, lease)
    assert await state() == before  # not even the overseer identity was created


async def test_an_archived_project_keeps_its_leases(lease):
    age_agent("BlueLake")
    await archive_project(PROJECT)
    before = await state()
    with pytest.raises(ProjectArchivedError):
        await release_for_operator(PROJECT, lease)
    assert await state() == before


async def test_an_already_released_lease_is_reported_as_such(lease):
    await release_reservations(PROJECT, "BlueLake")
    before = await state()
    result = await release_for_operator(PROJECT, lease)
    assert result["already_released"] is True and result["released"] == 0
    assert await state() == before


async def test_the_overseer_identity_is_created_once(lease):
    assert await ensure_operator(PROJECT) == OPERATOR_NAME
    agents = (await state())[2]
    assert await ensure_operator(PROJECT) == OPERATOR_NAME
    assert (await state())[2] == agents
