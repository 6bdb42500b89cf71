"""The reservation board (services.reservations.board): status filters, paging, overlaps between holders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from mcp_agent_mail.db import run_write, schema
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.agents import create_agent_identity
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.board import overlaps_between_holders, reservation_board
from mcp_agent_mail.services.reservations.leases import release_reservations, reserve_paths
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/board-service"


async def _expire(reservation_id: int) -> None:
    fr = schema.file_reservations
    statement = update(fr).where(fr.c.id == reservation_id).values(expires_ts=utcnow() - timedelta(minutes=5))
    await run_write(lambda tx: tx.execute(statement))


@pytest.fixture
async def project(isolated_env) -> str:
    """A project with BlueLake, RedFox and GreenCastle."""
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox", "GreenCastle"):
        await create_agent_identity(PROJECT, "p", "m", name_hint=name)
    return PROJECT


async def _grant(agent: str, pattern: str, exclusive: bool = False) -> int:
    result = await reserve_paths(PROJECT, agent, [pattern], exclusive=exclusive)
    return int(result["granted"][0]["id"])


async def test_statuses_are_filtered_and_counted(project):
    live = await _grant("BlueLake", "src/**")
    gone = await _grant("RedFox", "docs/**")
    await _expire(gone)
    done = await _grant("GreenCastle", "tests/**")
    await release_reservations(PROJECT, "GreenCastle", paths=["tests/**"])
    for status, wanted in (("active", live), ("expired", gone), ("released", done)):
        board = await reservation_board(PROJECT, status=status)
        assert [i["id"] for i in board.items] == [wanted] and board.items[0]["status"] == status
    assert board.counts == {"active": 1, "expired": 1, "released": 1}
    assert board.items[0]["released_ts"] and board.items[0]["agent"] == "GreenCastle"


async def test_overlaps_between_different_holders_are_flagged(project):
    blue = await _grant("BlueLake", "src/**")
    red = await _grant("RedFox", "src/api/*.py")
    mine = await _grant("BlueLake", "src/api/**")
    alone = await _grant("GreenCastle", "docs/**")
    items = {i["id"]: i for i in (await reservation_board(PROJECT)).items}
    assert {o["id"] for o in items[red]["overlaps"]} == {blue, mine}
    assert [o["agent"] for o in items[blue]["overlaps"]] == ["RedFox"]  # its own src/api/** is not a conflict
    assert items[alone]["overlaps"] == []
    assert items[red]["overlaps"][0]["conflict"] is False  # both shared


async def test_expired_leases_do_not_count_as_overlaps(project):
    old = await _grant("RedFox", "src/**")
    await _expire(old)
    fresh = await _grant("BlueLake", "src/**")
    [item] = (await reservation_board(PROJECT)).items
    assert item["id"] == fresh and item["overlaps"] == []


async def test_pages_newest_first(project):
    ids = [await _grant("BlueLake", f"f{n}.txt") for n in range(3)]
    first = await reservation_board(PROJECT, page_size=2)
    second = await reservation_board(PROJECT, page=2, page_size=2)
    assert [i["id"] for i in first.items + second.items] == list(reversed(ids))
    assert (first.has_next, second.has_next) == (True, False)


def test_an_exclusive_side_makes_an_overlap_a_conflict():
    leases = [
        {"id": 1, "agent_id": 1, "agent": "A", "path_pattern": "src/**", "exclusive": True},
        {"id": 2, "agent_id": 2, "agent": "B", "path_pattern": "src/x.py", "exclusive": False},
        {"id": 3, "agent_id": 1, "agent": "A", "path_pattern": "src/x.py", "exclusive": True},
    ]
    found = overlaps_between_holders(leases)
    assert [(o["id"], o["conflict"]) for o in found[2]] == [(1, True), (3, True)]
    assert [o["id"] for o in found[1]] == [2]


async def test_refusals(project):
    with pytest.raises(InvalidArgumentError):
        await reservation_board(PROJECT, status="bogus")
    with pytest.raises(InvalidArgumentError):
        await reservation_board(PROJECT, page=0)
    with pytest.raises(NotFoundError):
        await reservation_board("/work/nowhere")
