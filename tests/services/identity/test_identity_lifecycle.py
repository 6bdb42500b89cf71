"""Taking agents and projects out of service and back: retire, deregister, unretire, archive, unarchive."""

from __future__ import annotations

from typing import Any

import pytest

import db_kit
from mcp_agent_mail import archive
from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import (
    archive_project,
    deregister_agent,
    retire_agent,
    unarchive_project,
    unretire_agent,
)
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.leases import reserve_paths

PROJECT = "/work/lifecycle-service"


def _one(sql: str, **params: Any) -> tuple[Any, ...]:
    return db_kit.query(sql, **params)[0]


@pytest.fixture
async def seeded(isolated_env) -> None:
    """BlueLake holds two live leases; RedFox holds one."""
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "p", "m", name=name)
    await reserve_paths(PROJECT, "BlueLake", ["src/**", "docs/*.md"])
    await reserve_paths(PROJECT, "RedFox", ["tests/**"])
    archive.flush_pending()


def _live_leases(name: str) -> int:
    return int(
        _one(
            "SELECT count(*) FROM file_reservations r JOIN agents a ON a.id = r.agent_id "
            "WHERE a.name = :name AND r.released_ts IS NULL",
            name=name,
        )[0]
    )


async def test_retiring_releases_the_agents_leases_only_and_queues_the_changes(seeded):
    result = await retire_agent(PROJECT, "bluelake")
    assert result["status"] == "retired" and result["agent_name"] == "BlueLake"
    assert result["released_reservations"] == 2 and result["contact_policy"] == "auto"
    assert result["retired_at"].endswith("+00:00")
    assert _live_leases("BlueLake") == 0 and _live_leases("RedFox") == 1
    assert _one("SELECT retired_at IS NOT NULL FROM agents WHERE name = 'BlueLake'") == (1,)
    assert archive.pending_count() == 3  # the profile and both reservation files


async def test_retiring_twice_keeps_the_first_time_and_releases_nothing_more(seeded):
    first = await retire_agent(PROJECT, "BlueLake")
    again = await retire_agent(PROJECT, "BlueLake")
    assert again["retired_at"] == first["retired_at"] and "released_reservations" not in again


async def test_deregistering_also_blocks_mail_and_unretiring_says_so(seeded):
    result = await deregister_agent(PROJECT, "RedFox")
    assert result["status"] == "deregistered" and result["contact_policy"] == "block_all"
    assert result["released_reservations"] == 1
    back = await unretire_agent(PROJECT, "RedFox")
    assert back["status"] == "active" and back["contact_policy"] == "block_all" and "set_contact_policy" in back["note"]
    assert _one("SELECT retired_at, contact_policy FROM agents WHERE name = 'RedFox'") == (None, "block_all")


async def test_unretiring_an_active_agent_changes_nothing(seeded):
    before = _one("SELECT * FROM agents WHERE name = 'BlueLake'")
    result = await unretire_agent(PROJECT, "BlueLake")
    assert result == {"status": "active", "agent_name": "BlueLake", "project_key": PROJECT, "contact_policy": "auto"}
    assert _one("SELECT * FROM agents WHERE name = 'BlueLake'") == before
    assert archive.pending_count() == 0


async def test_archiving_and_unarchiving_a_project_is_idempotent(seeded):
    archived = await archive_project(PROJECT)
    assert archived["status"] == "archived" and archived["archived_at"].endswith("+00:00")
    assert (await archive_project(PROJECT))["archived_at"] == archived["archived_at"]
    assert archive.pending_count() == 1
    active = await unarchive_project(PROJECT)
    assert active == {"status": "active", "project_key": PROJECT, "slug": archived["slug"]}
    assert _one("SELECT archived_at FROM projects") == (None,)


async def test_an_unknown_agent_or_project_is_not_found_and_nothing_changes(seeded):
    with pytest.raises(NotFoundError):
        await retire_agent(PROJECT, "GreenCastle")
    with pytest.raises(NotFoundError):
        await archive_project("/work/never-made")
    assert _live_leases("BlueLake") == 2 and archive.pending_count() == 0
