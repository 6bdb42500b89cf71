"""Attention views: filters run before the limit, ttl parameters, identity rules and no state change."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from fastmcp import Client
from fastmcp.exceptions import McpError
from resource_kit import PROJECT, call, fingerprint, read, settle
from sqlalchemy import update

from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import run_write, schema
from mcp_agent_mail.services.mail import views
from mcp_agent_mail.timeutil import utcnow

P = quote(PROJECT, safe="")


async def _age(message_id: int, seconds: int) -> None:
    """Pretend a message was sent ``seconds`` ago."""
    m = schema.messages
    statement = update(m).where(m.c.id == message_id).values(created_ts=utcnow() - timedelta(seconds=seconds))
    await run_write(lambda tx: tx.execute(statement))


async def _send_plain(client: Client, count: int, tokens: dict[str, str]) -> None:
    for i in range(count):
        await call(
            client,
            "send_message",
            project_key=PROJECT,
            sender_name="BlueLake",
            to=["RedFox"],
            subject=f"note {i}",
            body_md="x",
            sender_token=tokens["BlueLake"],
        )


async def test_urgent_unread_filters_before_the_limit(world):
    async with Client(world["server"]) as c:
        await _send_plain(c, 5, world["tokens"])  # newer, not urgent: must not crowd out the urgent one
        view = await read(c, f"resource://views/urgent-unread/RedFox?project={P}&limit=1")
        assert view["agent"] == "RedFox" and view["count"] == 1
        assert view["messages"][0]["id"] == world["m2"] and view["messages"][0]["importance"] == "urgent"
        await call(c, "mark_message_read", project_key=PROJECT, agent_name="RedFox", message_id=world["m2"])
        assert (await read(c, f"resource://views/urgent-unread/RedFox?project={P}"))["count"] == 0


async def test_ack_required_lists_pending_acknowledgements(world):
    async with Client(world["server"]) as c:
        await _send_plain(c, 3, world["tokens"])
        view = await read(c, f"resource://views/ack-required/RedFox?project={P}&limit=1")
        assert [m["id"] for m in view["messages"]] == [world["m2"]] and view["messages"][0]["kind"] == "to"
        green = await read(c, f"resource://views/ack-required/GreenCastle?project={P}")
        assert green["messages"][0]["kind"] == "bcc" and "bcc" not in green["messages"][0]
        await call(c, "acknowledge_message", project_key=PROJECT, agent_name="RedFox", message_id=world["m2"])
        assert (await read(c, f"resource://views/ack-required/RedFox?project={P}"))["count"] == 0


async def test_acks_stale_and_ack_overdue_use_their_ttl(world):
    async with Client(world["server"]) as c:
        fresh = await read(c, f"resource://views/acks-stale/RedFox?project={P}")
        assert fresh["ttl_seconds"] == 1800 and fresh["count"] == 0
        await _age(world["m2"], 7200)
        stale = await read(c, f"resource://views/acks-stale/RedFox?project={P}&ttl_seconds=3600")
        assert stale["ttl_seconds"] == 3600 and [m["id"] for m in stale["messages"]] == [world["m2"]]
        assert 7190 <= stale["messages"][0]["age_seconds"] <= 7300
        assert (await read(c, f"resource://views/acks-stale/RedFox?project={P}&ttl_seconds=9000"))["count"] == 0
        overdue = await read(c, f"resource://views/ack-overdue/RedFox?project={P}")
        assert overdue["ttl_minutes"] == 60 and [m["id"] for m in overdue["messages"]] == [world["m2"]]
        late = await read(c, f"resource://views/ack-overdue/RedFox?project={P}&ttl_minutes=180")
        assert late == {"project": PROJECT, "agent": "RedFox", "ttl_minutes": 180, "count": 0, "messages": []}
        for bad in ("ttl_minutes=0", "ttl_minutes=soon", "limit=5000"):
            with pytest.raises(McpError, match=r"^INVALID_ARGUMENT"):
                await read(c, f"resource://views/ack-overdue/RedFox?project={P}&{bad}")


async def test_views_change_nothing_and_need_a_token_in_strict_mode(strict_mode, world):
    await settle()
    before = await fingerprint()
    red = world["tokens"]["RedFox"]
    async with Client(world["server"]) as c:
        for view in ("urgent-unread", "ack-required", "acks-stale", "ack-overdue"):
            with pytest.raises(McpError, match=r"^UNAUTHORIZED"):
                await read(c, f"resource://views/{view}/RedFox?project={P}")
            result = await read(c, f"resource://views/{view}/RedFox?project={P}&agent_token={red}")
            assert result["agent"] == "RedFox"
        with pytest.raises(McpError, match=r"^NOT_FOUND"):
            await read(c, f"resource://views/ack-required/Nobody?project={P}&agent_token={red}")
    assert await fingerprint() == before


async def test_acks_stale_default_comes_from_the_ack_ttl_setting(world, monkeypatch):
    monkeypatch.setenv("ACK_TTL_SECONDS", "3600")
    clear_settings_cache()
    await _age(world["m2"], 5400)
    async with Client(world["server"]) as c:
        stale = await read(c, f"resource://views/acks-stale/RedFox?project={P}")
    assert stale["ttl_seconds"] == 3600 and [m["id"] for m in stale["messages"]] == [world["m2"]]
    direct = await views.acks_stale(PROJECT, "RedFox")
    assert direct["ttl_seconds"] == 3600 and direct["count"] == 1
    monkeypatch.setenv("ACK_TTL_SECONDS", "7200")
    clear_settings_cache()
    assert (await views.acks_stale(PROJECT, "RedFox"))["count"] == 0
