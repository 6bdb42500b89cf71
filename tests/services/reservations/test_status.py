"""Reservation statuses as people read them: active, expired and released leases, and nothing changed by reading."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from mcp_agent_mail.db import get_session, run_write, schema
from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.identity.agents import create_agent_identity
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.leases import release_reservations, reserve_paths
from mcp_agent_mail.services.reservations.status import reservation_statuses
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/status-service"


async def _rows() -> list[dict]:
    fr = schema.file_reservations
    async with get_session() as session:
        return [dict(r) for r in (await session.execute(select(fr).order_by(fr.c.id))).mappings()]


@pytest.fixture
async def leases(isolated_env) -> dict[str, Any]:
    """Three leases of one project: src/** (active, with a reason), docs/** (expired), tests/test_x.py (released)."""
    project = await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await create_agent_identity(PROJECT, "p", "m", name_hint=name)
    await reserve_paths(PROJECT, "BlueLake", ["src/**"], reason="refactor")
    await reserve_paths(PROJECT, "RedFox", ["docs/**"])
    await reserve_paths(PROJECT, "RedFox", ["tests/test_x.py"])
    await release_reservations(PROJECT, "RedFox", paths=["tests/test_x.py"])
    active, expired, released = await _rows()
    fr = schema.file_reservations
    past = utcnow() - timedelta(hours=1)
    await run_write(lambda tx: tx.execute(update(fr).where(fr.c.id == expired["id"]).values(expires_ts=past)))
    return {"active": active["id"], "expired": expired["id"], "released": released["id"], "slug": project["slug"]}


async def test_active_only_lists_live_leases_with_their_staleness_verdict(leases):
    [item] = await reservation_statuses(PROJECT)
    assert item["id"] == leases["active"] and item["agent"] == "BlueLake" and item["path_pattern"] == "src/**"
    assert item["status"] == "active" and item["reason"] == "refactor"
    assert item["stale"] is False and item["stale_reasons"] and item["last_agent_activity_ts"].endswith("+00:00")


async def test_every_lease_oldest_first_with_its_status(leases):
    items = await reservation_statuses(leases["slug"], active_only=False)
    assert [(i["id"], i["status"]) for i in items] == [
        (leases["active"], "active"),
        (leases["expired"], "expired"),
        (leases["released"], "released"),
    ]
    expired, released = items[1], items[2]
    assert "stale" not in expired and "reason" not in expired and "released_ts" not in expired
    assert released["released_ts"].endswith("+00:00") and "stale" not in released


async def test_reading_statuses_changes_no_lease(leases):
    before = await _rows()
    await reservation_statuses(PROJECT, active_only=False)
    await reservation_statuses(PROJECT)
    assert await _rows() == before


async def test_an_unknown_project_is_not_found(leases):
    with pytest.raises(NotFoundError, match="Project 'nowhere' not found"):
        await reservation_statuses("nowhere")
