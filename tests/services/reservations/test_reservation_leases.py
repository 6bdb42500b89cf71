"""Leases as the service grants them: validation first, conflicts with holders, own leases extended, release, renew."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import db_kit
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.errors import AgentRetiredError, InvalidArgumentError, ReservationActiveError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.leases import (
    MAX_PATHS,
    check_reserve_request,
    list_active_reservations,
    release_reservations,
    release_stale,
    renew_reservations,
    reserve_paths,
)
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/leases-service"


def _leases() -> list[tuple[Any, ...]]:
    return db_kit.query(
        "SELECT r.id, a.name, r.path_pattern, r.exclusive, r.reason, r.expires_ts, r.released_ts "
        "FROM file_reservations r JOIN agents a ON a.id = r.agent_id ORDER BY r.id"
    )


@pytest.fixture
async def seeded(isolated_env) -> None:
    """BlueLake and RedFox in one project, no leases yet."""
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "p", "m", name=name)


@pytest.mark.parametrize(
    ("paths", "ttl", "reason", "message"),
    [
        ([], 3600, "", "EMPTY_PATHS"),
        ("src/**", 3600, "", "paths must be a list"),
        ([f"f{i}.py" for i in range(MAX_PATHS + 1)], 3600, "", f"at most {MAX_PATHS}"),
        (["src/**"], 1, "", "ttl_seconds must be an integer"),
        (["src/**"], True, "", "ttl_seconds must be an integer"),
        (["src/**"], 3600, "r" * 513, "reason is longer than 512"),
    ],
)
@pytest.mark.bare_database
def test_a_bad_request_is_refused_before_the_database_is_touched(isolated_env, paths, ttl, reason, message):
    with pytest.raises(InvalidArgumentError, match=message):
        check_reserve_request(paths, ttl, reason)
    assert not db_kit.database_exists()


def test_a_good_request_returns_its_patterns_normalised_and_deduplicated(isolated_env):
    assert check_reserve_request(["./src/**", "src/**", "docs/a.md"], 3600, "edit") == ["src/**", "docs/a.md"]


async def test_a_conflict_is_reported_with_its_holder_and_the_rest_is_granted(seeded):
    held = await reserve_paths(PROJECT, "BlueLake", ["src/**"], reason="refactor")
    [lease] = held["granted"]
    result = await reserve_paths(PROJECT, "RedFox", ["src/app.py", "docs/**"])
    assert [g["path_pattern"] for g in result["granted"]] == ["docs/**"]
    [conflict] = result["conflicts"]
    assert conflict["path"] == "src/app.py"
    assert conflict["holders"] == [
        {
            "id": lease["id"],
            "agent": "BlueLake",
            "path_pattern": "src/**",
            "exclusive": True,
            "expires_ts": lease["expires_ts"],
        }
    ]
    assert [(row[1], row[2]) for row in _leases()] == [("BlueLake", "src/**"), ("RedFox", "docs/**")]


async def test_reserving_an_own_pattern_again_extends_that_lease_instead_of_adding_one(seeded):
    first = (await reserve_paths(PROJECT, "BlueLake", ["src/**"], ttl_seconds=600, reason="start"))["granted"][0]
    again = (await reserve_paths(PROJECT, "BlueLake", ["src/**"], ttl_seconds=7200))["granted"][0]
    assert again["id"] == first["id"] and again["reason"] == "start"
    assert datetime.fromisoformat(again["expires_ts"]) > datetime.fromisoformat(first["expires_ts"])
    assert len(_leases()) == 1


async def test_release_by_id_touches_only_the_callers_own_leases(seeded):
    mine = (await reserve_paths(PROJECT, "BlueLake", ["src/**", "docs/**"]))["granted"]
    theirs = (await reserve_paths(PROJECT, "RedFox", ["tests/**"]))["granted"][0]
    result = await release_reservations(PROJECT, "BlueLake", file_reservation_ids=[mine[0]["id"], theirs["id"]])
    assert result["released"] == 1
    released = {row[0] for row in _leases() if row[6] is not None}
    assert released == {mine[0]["id"]}
    assert [r["path_pattern"] for r in await list_active_reservations(PROJECT)] == ["docs/**", "tests/**"]
    assert (await release_reservations(PROJECT, "BlueLake", paths=["src/**"]))["released"] == 0


async def test_renewing_never_shortens_and_is_capped_at_the_maximum_lease(seeded, monkeypatch):
    monkeypatch.setenv("FILE_RESERVATION_MAX_TTL_SECONDS", "7200")
    clear_settings_cache()
    granted = (await reserve_paths(PROJECT, "BlueLake", ["src/**"], ttl_seconds=600))["granted"][0]
    result = await renew_reservations(PROJECT, "BlueLake", extend_seconds=7200)
    [renewed] = result["file_reservations"]
    assert result["renewed"] == 1 and renewed["old_expires_ts"] == granted["expires_ts"]
    new = datetime.fromisoformat(renewed["new_expires_ts"])
    assert datetime.fromisoformat(granted["expires_ts"]) < new <= utcnow() + timedelta(seconds=7200)
    [(stored,)] = db_kit.rows("file_reservations", "expires_ts")
    assert stored.strftime("%Y-%m-%d %H:%M:%S") == new.strftime("%Y-%m-%d %H:%M:%S")


async def test_a_retired_agent_cannot_take_a_lease_and_nothing_is_stored(seeded):
    await retire_agent(PROJECT, "RedFox")
    with pytest.raises(AgentRetiredError):
        await reserve_paths(PROJECT, "RedFox", ["src/**"])
    assert _leases() == []


async def test_another_agents_active_lease_is_not_released_by_release_stale(seeded):
    lease = (await reserve_paths(PROJECT, "BlueLake", ["src/**"]))["granted"][0]
    before = _leases()
    with pytest.raises(ReservationActiveError, match="nothing was released") as refused:
        await release_stale(PROJECT, "RedFox", lease["id"])
    assert "agent_recently_active" in refused.value.data["stale_reasons"]
    assert _leases() == before


async def test_the_holder_may_release_its_own_lease_through_release_stale_without_a_notice(seeded):
    lease = (await reserve_paths(PROJECT, "BlueLake", ["src/**"]))["granted"][0]
    done = await release_stale(PROJECT, "BlueLake", lease["id"])
    assert done.released_now and done.notice is None
    assert done.result["reservation"]["stale_reasons"] == ["released_by_holder"]
    again = await release_stale(PROJECT, "BlueLake", lease["id"])
    assert again.released_now is False and again.result["already_released"] is True
