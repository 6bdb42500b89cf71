"""Project, agents, file reservation and identity resources: shapes, staleness facts, no state change."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from fastmcp.exceptions import McpError
from resource_kit import PROJECT, call, fingerprint, read, settle
from sqlalchemy import select, update

from mcp_agent_mail.db import WriteTransaction, get_session, run_write, schema
from mcp_agent_mail.timeutil import utcnow

P = quote(PROJECT, safe="")
SLUG = "work-resource-test"


async def test_projects_list_every_project_including_test_named_ones(world):
    async with Client(world["server"]) as c:
        await call(c, "ensure_project", human_key="/testproj")
        projects = await read(c, "resource://projects")
        assert [p["slug"] for p in projects] == [SLUG, "testproj"]
        assert set(projects[0]) == {"id", "slug", "human_key", "created_at"}
        assert await read(c, "resource://tooling/projects") == projects


async def test_project_shows_all_agents_and_agents_directory_counts_unread(world):
    async with Client(world["server"]) as c:
        await call(c, "retire_agent", project_key=PROJECT, agent_name="GreenCastle")
        by_path = await read(c, f"resource://project/{P}")
        assert by_path == await read(c, f"resource://project/{SLUG}")
        assert by_path["human_key"] == PROJECT
        assert [a["name"] for a in by_path["agents"]] == ["BlueLake", "GreenCastle", "RedFox"]
        assert "retired_at" in by_path["agents"][1]
        assert all("registration_token" not in a and "registration_token_hash" not in a for a in by_path["agents"])
        directory = await read(c, f"resource://agents/{SLUG}")
        assert directory["project"] == {"slug": SLUG, "human_key": PROJECT}
        assert [(a["name"], a["unread_count"]) for a in directory["agents"]] == [("RedFox", 2), ("BlueLake", 1)]
        assert [a["name"] for a in directory["retired_agents"]] == ["GreenCastle"]
        with pytest.raises(McpError, match=r"^NOT_FOUND: Project 'nowhere'"):
            await read(c, "resource://agents/nowhere")
        with pytest.raises(McpError, match=r"^NOT_FOUND"):
            await read(c, "resource://project/nowhere")


async def _reservations() -> list[dict]:
    fr = schema.file_reservations
    async with get_session() as session:
        return [dict(r) for r in (await session.execute(select(fr).order_by(fr.c.id))).mappings()]


async def test_file_reservations_report_staleness_without_releasing_anything(world):
    async with Client(world["server"]) as c:
        await call(
            c,
            "file_reservation_paths",
            project_key=PROJECT,
            agent_name="BlueLake",
            paths=["src/*.py"],
            reason="refactor",
        )
        await call(c, "file_reservation_paths", project_key=PROJECT, agent_name="RedFox", paths=["docs/**"])
        [blue, red] = await _reservations()
        active = await read(c, f"resource://file_reservations/{SLUG}")
        assert [r["id"] for r in active] == [blue["id"], red["id"]]
        first = active[0]
        assert first["agent"] == "BlueLake" and first["path_pattern"] == "src/*.py" and first["exclusive"] is True
        assert first["reason"] == "refactor" and first["status"] == "active" and first["stale"] is False
        assert first["stale_reasons"][0] == "agent_recently_active" and "released_ts" not in first
        assert first["last_agent_activity_ts"].endswith("+00:00")

        # BlueLake goes quiet: the resource says stale, and still releases nothing (reading never writes).
        long_ago = utcnow() - timedelta(days=2)
        a, m, fr = schema.agents, schema.messages, schema.file_reservations

        async def age(tx: WriteTransaction) -> None:
            await tx.execute(update(a).where(a.c.name == "BlueLake").values(last_active_ts=long_ago))
            await tx.execute(update(m).values(created_ts=long_ago))
            await tx.execute(update(fr).where(fr.c.id == red["id"]).values(expires_ts=long_ago))

        await run_write(age)
        await settle()
        before = await fingerprint()
        active = await read(c, f"resource://file_reservations/{P}")
        assert [r["id"] for r in active] == [blue["id"]]
        assert active[0]["stale"] is True
        assert active[0]["stale_reasons"][:2] == ["agent_inactive>1800s", "no_recent_mail_activity>900s"]
        everything = await read(c, f"resource://file_reservations/{SLUG}?active_only=false")
        assert [(r["id"], r["status"]) for r in everything] == [(blue["id"], "active"), (red["id"], "expired")]
        assert "stale" not in everything[1] and "released_ts" not in everything[1]
        assert await fingerprint() == before
        assert all(r["released_ts"] is None for r in await _reservations())
        with pytest.raises(McpError, match=r"^INVALID_ARGUMENT: active_only"):
            await read(c, f"resource://file_reservations/{SLUG}?active_only=perhaps")


async def test_identity_describes_the_repository_without_writing(server, tmp_path: Path):
    work = tmp_path / "widget"
    work.mkdir()
    repo = Repo.init(str(work))
    config = repo.get_config()
    config.set((b"remote", b"origin"), b"url", b"https://bob:s3cret@GitHub.com/acme/widget.git")
    config.write_to_path()
    repo.close()
    (work / ".agent-mail.yaml").write_text("product_uid: prod-7\n")
    async with Client(server) as c:
        project = await call(c, "ensure_project", human_key=str(work))
        await settle()
        git_before = sorted(p.relative_to(work) for p in (work / ".git").rglob("*"))
        before = await fingerprint()
        contents = await c.read_resource(f"resource://identity/{quote(str(work), safe='')}")
        identity = await read(c, f"resource://identity/{project['slug']}")
        assert "s3cret" not in contents[0].text
        with pytest.raises(McpError, match=r"^NOT_FOUND"):
            await read(c, "resource://identity/unknown-project")
    assert identity["slug"] == project["slug"] and identity["human_key"] == str(work)
    assert identity["repo_root"] == str(work) and identity["canonical_path"] == str(work.resolve())
    assert identity["normalized_remote"] == "github.com/acme/widget"
    assert identity["branch"] in ("master", "main") and identity["core_ignorecase"] is False
    assert identity["project_uid_source"] == "remote" and len(identity["project_uid"]) == 20
    assert identity["discovery"] == {"product_uid": "prod-7"} and "worktree_name" not in identity
    assert await fingerprint() == before
    assert sorted(p.relative_to(work) for p in (work / ".git").rglob("*")) == git_before


async def test_identity_finds_the_project_by_its_absolute_path_however_it_is_encoded(server, tmp_path: Path):
    work = tmp_path / "my repo"
    work.mkdir()
    async with Client(server) as c:
        project = await call(c, "ensure_project", human_key=str(work))
        for segment in (
            quote(str(work), safe=""),  # /, spaces percent-encoded
            quote(str(work)),  # slashes left as they are
            quote(quote(str(work), safe=""), safe=""),  # encoded twice
            quote(f"{work}/", safe=""),  # trailing slash
        ):
            identity = await read(c, f"resource://identity/{segment}")
            assert identity["slug"] == project["slug"] and identity["human_key"] == str(work), segment
        with pytest.raises(McpError, match=r"^NOT_FOUND"):
            await read(c, f"resource://identity/{quote(str(tmp_path / 'elsewhere'), safe='')}")
