"""One shape per row kind: what clients get and what the Git archive stores agree."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.archive.paths import reservation_file
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema, sync_read_connection
from mcp_agent_mail.db.shapes import agent_label, reservation_dict
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.leases import (
    list_active_reservations,
    release_reservations,
    reserve_paths,
)

PROJECT = "/work/shapes-demo"


def _archived(slug: str, reservation_id: int) -> dict[str, object]:
    flush_pending()
    path = Path(get_settings().storage.root) / reservation_file(slug, reservation_id)
    return json.loads(path.read_text(encoding="utf-8"))


async def test_a_reservation_reads_the_same_in_results_and_in_the_archive(isolated_env):
    project = await ensure_project(PROJECT)
    await register_agent(PROJECT, "pytest", "test-model", name="BlueLake")
    granted = await reserve_paths(PROJECT, "BlueLake", ["src/**"], ttl_seconds=600, reason="refactor")
    [active] = await list_active_reservations(PROJECT)
    assert active["id"] == granted["granted"][0]["id"]
    assert _archived(project["slug"], active["id"]) == {"project": PROJECT, **active}
    assert "released_ts" not in active

    await release_reservations(PROJECT, "BlueLake", paths=["src/**"])
    stored = _archived(project["slug"], active["id"])
    released_ts = stored.pop("released_ts")
    assert isinstance(released_ts, str) and released_ts.endswith("+00:00")
    assert stored == {"project": PROJECT, **active}


async def test_the_shaper_names_the_holder_and_adds_the_project_only_when_given(isolated_env):
    await ensure_project(PROJECT)
    await register_agent(PROJECT, "pytest", "test-model", name="RedFox")
    await reserve_paths(PROJECT, "RedFox", ["docs/*.md"], ttl_seconds=600, exclusive=False)
    fr, a = schema.file_reservations, schema.agents
    with sync_read_connection() as conn:
        row = conn.execute(select(fr, a.c.name.label("agent")).join(a, a.c.id == fr.c.agent_id)).mappings().one()
    shaped = reservation_dict(row)
    assert list(shaped) == ["id", "agent", "path_pattern", "exclusive", "reason", "created_ts", "expires_ts"]
    assert shaped["agent"] == "RedFox" and shaped["exclusive"] is False and shaped["reason"] == ""
    assert list(reservation_dict(row, project=PROJECT))[:2] == ["id", "project"]


def test_an_agent_of_another_project_is_named_with_its_slug():
    assert agent_label("BlueLake", 1, "home", 1) == "BlueLake"
    assert agent_label("PurpleHill", 2, "elsewhere", 1) == "PurpleHill@elsewhere"
