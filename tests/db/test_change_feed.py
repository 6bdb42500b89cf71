"""The new-mail change feed: PostgreSQL's triggers and LISTEN connection, SQLite's polling thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from fastmcp import Client

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db.change_feed.postgres import APPLICATION_NAME
from mcp_agent_mail.services.mail.arrivals import Arrivals
from pg_cluster import on_postgresql
from wait_kit import async_wait_until

PROJECT = "/work/feed-test"
WAIT_S = 15.0
_KILL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"
TRIGGERS = {"message_recipients_notify", "agents_notify", "projects_notify"}


async def _agents(client: Client) -> tuple[str, str]:
    await client.call_tool("ensure_project", {"human_key": PROJECT})
    names = []
    for hint in ("BlueLake", "RedFox"):
        args = {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": hint}
        names.append((await client.call_tool("create_agent_identity", args)).data["name"])
    return names[0], names[1]


async def _send(client: Client, sender: str, to: str) -> None:
    args = {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": "Hello", "body_md": "Hi."}
    await client.call_tool("send_message", args)


def _agent_id(name: str) -> int:
    return int(db_kit.scalar("SELECT id FROM agents WHERE name = :name", name=name))


def _feed_connections() -> int:
    return int(db_kit.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n", n=APPLICATION_NAME))


def _feed_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "mail-change-feed")


async def test_migration_8_announces_mail_on_postgresql_only(isolated_env: Any) -> None:
    async with Client(build_mcp_server()) as c:
        await _agents(c)
    if on_postgresql():
        names = {row[0] for row in db_kit.query("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert names >= TRIGGERS
    else:
        names = {row[0] for row in db_kit.query("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert not names & TRIGGERS
    assert db_kit.scalar("SELECT count(*) FROM schema_version WHERE version = 8") == 1


async def test_watcher_is_woken_by_a_delivery_and_the_feed_stops_when_nobody_watches(isolated_env: Any) -> None:
    hub = Arrivals()
    woken = asyncio.Event()
    async with Client(build_mcp_server()) as c:
        blue, red = await _agents(c)
        watcher = hub.add(_agent_id(blue), 0, woken.set)
        await _send(c, red, blue)
        await asyncio.wait_for(woken.wait(), WAIT_S)
        hub.remove(watcher)
    if on_postgresql():
        await async_wait_until(lambda: _feed_connections() == 0, WAIT_S, message="the LISTEN connection stayed open")
    else:
        await async_wait_until(lambda: _feed_threads() == 0, WAIT_S, message="the polling thread kept running")


@pytest.mark.skipif(not on_postgresql(), reason="LISTEN/NOTIFY is PostgreSQL's")
async def test_listen_connection_comes_back_after_it_is_killed(isolated_env: Any) -> None:
    hub = Arrivals()
    woken = asyncio.Event()
    async with Client(build_mcp_server()) as c:
        blue, red = await _agents(c)
        watcher = hub.add(_agent_id(blue), 0, woken.set)
        try:
            await async_wait_until(lambda: _feed_connections() == 1, WAIT_S, message="no LISTEN connection")
            db_kit.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n", n=APPLICATION_NAME
            )
            await _send(c, red, blue)  # possibly while nobody listens: the resync after reconnecting finds it
            await asyncio.wait_for(woken.wait(), WAIT_S)
            await async_wait_until(lambda: _feed_connections() == 1, WAIT_S, message="the feed did not reconnect")
            woken.clear()
            await _send(c, red, blue)
            await asyncio.wait_for(woken.wait(), WAIT_S)
        finally:
            hub.remove(watcher)
