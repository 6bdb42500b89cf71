"""Tooling and configuration resources; the resource listing; every resource read leaves the state unchanged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from fastmcp import Client
from fastmcp.exceptions import McpError
from resource_kit import PROJECT, call, fingerprint, read, settle

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.services import metrics
from mcp_agent_mail.services.database import printable_url

P = quote(PROJECT, safe="")
STATIC = {
    "resource://projects",
    "resource://tooling/projects",
    "resource://config/environment",
    "resource://tooling/directory",
    "resource://tooling/schemas",
    "resource://tooling/metrics",
    "resource://tooling/locks",
}
TEMPLATES = {
    "inbox/{agent}",
    "outbox/{agent}",
    "mailbox/{agent}",
    "mailbox-with-commits/{agent}",
    "thread/{thread_id}",
    "message/{message_id}",
    "views/urgent-unread/{agent}",
    "views/ack-required/{agent}",
    "views/acks-stale/{agent}",
    "views/ack-overdue/{agent}",
    "project/{slug}",
    "agents/{project_key}",
    "file_reservations/{slug}",
    "tooling/recent/{window_seconds}",
    "tooling/capabilities/{agent}",
    "identity/{project*}",  # the path may keep its slashes unencoded
}


async def test_every_resource_is_listed_as_json(server):
    async with Client(server) as c:
        resources = await c.list_resources()
        templates = await c.list_resource_templates()
    assert {str(r.uri) for r in resources} == STATIC
    assert {t.uri_template.removeprefix("resource://").split("{?")[0] for t in templates} == TEMPLATES
    assert all(r.mime_type == "application/json" for r in [*resources, *templates])
    inbox = next(t for t in templates if t.uri_template.startswith("resource://inbox/"))
    assert inbox.uri_template == (
        "resource://inbox/{agent}{?project,limit,urgent_only,unread_only,include_bodies,since_ts,agent_token}"
    )


async def test_environment_never_shows_secrets(isolated_env, monkeypatch):
    monkeypatch.setenv("HTTP_BEARER_TOKEN", "bearer-secret-1")
    monkeypatch.setenv("LLM_API_KEY", "sk-secret-2")
    monkeypatch.setenv("HTTP_JWT_SECRET", "jwt-secret-3")
    clear_settings_cache()
    from mcp_agent_mail.app import build_mcp_server

    async with Client(build_mcp_server()) as c:
        contents = await c.read_resource("resource://config/environment")
    text = contents[0].text
    assert not any(secret in text for secret in ("bearer-secret-1", "sk-secret-2", "jwt-secret-3"))
    env = await _json(contents)
    assert env["environment"] == "test" and env["http"] == {"host": "127.0.0.1", "port": 8765, "path": "/mcp/"}
    assert env["database_url"] == printable_url(get_settings().database.url) and env["identity_mode"] == "trusted"
    masked = printable_url("postgresql+asyncpg://mail:hunter2@db.example:5432/mail?sslpassword=x2&sslmode=require")
    assert "hunter2" not in masked and "x2" not in masked
    assert masked.startswith("postgresql+asyncpg://mail:***@db.example:5432/mail") and "sslmode=require" in masked


async def _json(contents):
    import json

    return json.loads(contents[0].text)


async def test_directory_groups_the_live_tools_and_has_playbooks(server):
    async with Client(server) as c:
        directory = await read(c, "resource://tooling/directory")
        schemas = await read(c, "resource://tooling/schemas")
        tools = {t.name for t in await c.list_tools()}
    listed = [t["name"] for cluster in directory["clusters"] for t in cluster["tools"]]
    assert sorted(listed) == sorted(tools)
    names = {cluster["name"] for cluster in directory["clusters"]}
    assert {"Messaging Lifecycle", "File Reservations & Workspace Guardrails", "Workflow Macros"} <= names
    workflows = {p["workflow"] for p in directory["playbooks"]}
    assert {"Start a session", "Send and reply", "Reserve, edit, release", "Handle contacts"} <= workflows
    assert all(p["sequence"] and all(isinstance(s, str) for s in p["sequence"]) for p in directory["playbooks"])
    send = next(t for cluster in directory["clusters"] for t in cluster["tools"] if t["name"] == "send_message")
    assert send["summary"] and "read_only" not in send
    assert set(schemas["tools"]) == tools
    assert {"project_key", "sender_name", "subject", "body_md"} <= set(schemas["tools"]["send_message"]["required"])


async def test_metrics_and_recent_count_real_tool_calls(world):
    metrics.reset()
    async with Client(world["server"]) as c:
        await call(c, "fetch_inbox", project_key=PROJECT, agent_name="RedFox")
        await call(c, "fetch_inbox", project_key="work-resource-test", agent_name="BlueLake")
        with pytest.raises(Exception, match="NOT_FOUND"):
            await call(c, "fetch_inbox", project_key=PROJECT, agent_name="Nobody")
        await call(c, "health_check")
        snapshot = await read(c, "resource://tooling/metrics")
        recent = await read(c, f"resource://tooling/recent/600?project={P}")
        by_slug = await read(c, "resource://tooling/recent/600?project=work-resource-test&agent=redfox")
        with pytest.raises(McpError, match=r"^INVALID_ARGUMENT: window_seconds"):
            await read(c, "resource://tooling/recent/soon")
    tools = {t["name"]: t for t in snapshot["tools"]}
    assert tools["fetch_inbox"]["calls"] == 3 and tools["fetch_inbox"]["errors"] == 1
    assert tools["fetch_inbox"]["cluster"] == "messaging" and tools["health_check"]["calls"] == 1
    assert [e["tool"] for e in recent["entries"]] == ["fetch_inbox"] * 3  # the path and the slug both match
    assert recent["window_seconds"] == 600 and [e["ok"] for e in recent["entries"]] == [True, True, False]
    assert by_slug["count"] == 1 and by_slug["entries"][0]["agent"] == "RedFox"


async def test_locks_report_git_lock_files_read_only(world):
    root = Path(get_settings().storage.root)
    leftover = root / ".git" / "index.lock"
    async with Client(world["server"]) as c:  # every flush clears dead writers' locks: let the start replay end
        for _ in range(100):
            writer = (await read(c, "resource://tooling/locks"))["writer_lock"]
            if writer["exists"] and not writer["held"]:
                break
            await asyncio.sleep(0.05)
        leftover.write_text("")
        try:
            report = await read(c, "resource://tooling/locks")
            assert leftover.exists()
        finally:
            leftover.unlink(missing_ok=True)
    assert report["writer_lock"] == {"path": ".git/mcp-agent-mail-writer.lock", "exists": True, "held": False}
    assert [lock["path"] for lock in report["locks"]] == [".git/index.lock"]
    assert report["locks"][0]["stale_suspected"] is True
    assert report["summary"] == {"total": 1, "active": 0, "stale": 1} and report["archive_pending"] == 0


async def test_capabilities_follow_the_agent_state(world):
    async with Client(world["server"]) as c:
        caps = await read(c, f"resource://tooling/capabilities/redfox?project={P}")
        assert caps["agent"] == "RedFox" and caps["project"] == PROJECT
        assert {"messaging", "file_reservations", "read"} <= set(caps["tool_groups"])
        await call(c, "retire_agent", project_key=PROJECT, agent_name="RedFox")
        retired = await read(c, f"resource://tooling/capabilities/RedFox?project={P}")
        assert retired["tool_groups"] == ["read", "search"] and retired["read_only_reason"] == "agent retired"
        with pytest.raises(McpError, match=r"^NOT_FOUND"):
            await read(c, f"resource://tooling/capabilities/Nobody?project={P}")


async def test_an_agent_without_configured_capabilities_has_none(world):
    async with Client(world["server"]) as c:
        caps = await read(c, f"resource://tooling/capabilities/RedFox?project={P}")
        assert caps["capabilities"] == [] and caps["agent"] == "RedFox"
        assert (await read(c, "resource://tooling/capabilities/BlueLake"))["capabilities"] == []


async def test_configured_capabilities_are_listed_per_agent_and_project(world, monkeypatch, tmp_path: Path):
    config = tmp_path / "caps.json"
    entries = [
        {"name": "RedFox", "project": PROJECT, "capabilities": ["send", "reserve"]},
        {"name": "RedFox", "capabilities": ["read"]},
        {"name": "RedFox", "project": "/elsewhere", "capabilities": ["admin"]},
    ]
    config.write_text(json.dumps({"agents": entries}))
    monkeypatch.setenv("AGENT_CAPABILITIES_FILE", str(config))
    clear_settings_cache()
    async with Client(world["server"]) as c:
        caps = await read(c, f"resource://tooling/capabilities/RedFox?project={P}")
        assert caps["capabilities"] == ["read", "reserve", "send"]
        assert (await read(c, f"resource://tooling/capabilities/BlueLake?project={P}"))["capabilities"] == []
        config.write_text("not json")
        assert (await read(c, f"resource://tooling/capabilities/RedFox?project={P}"))["capabilities"] == []


async def test_reading_every_resource_changes_nothing(world):
    await settle()
    before = await fingerprint()
    m1, m2 = world["m1"], world["m2"]
    async with Client(world["server"]) as c:
        for uri in sorted(STATIC):
            await read(c, uri)
        for uri in (
            f"resource://inbox/RedFox?project={P}",
            f"resource://outbox/BlueLake?project={P}",
            f"resource://mailbox/RedFox?project={P}",
            f"resource://mailbox-with-commits/RedFox?project={P}",
            f"resource://thread/{m1}?project={P}&agent=RedFox",
            f"resource://message/{m2}?project={P}&agent=RedFox",
            f"resource://views/urgent-unread/RedFox?project={P}",
            f"resource://views/ack-required/RedFox?project={P}",
            f"resource://views/acks-stale/RedFox?project={P}",
            f"resource://views/ack-overdue/RedFox?project={P}",
            f"resource://project/{P}",
            f"resource://agents/{P}",
            f"resource://file_reservations/{P}",
            "resource://tooling/recent/60",
            f"resource://tooling/capabilities/RedFox?project={P}",
            f"resource://identity/{P}",
        ):
            await read(c, uri)
    assert await fingerprint() == before
