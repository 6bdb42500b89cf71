"""send_message/reply_message with client_msg_id and fetch_inbox with unread_only, through MCP clients: in memory,
and against real server processes sharing one database (concurrent retries, a retry after a restart)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

import db_kit
from mcp_agent_mail.app import build_mcp_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_http

PROJECT = "/work/once-test"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in AGENTS:
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


def send_args(**overrides: Any) -> dict[str, Any]:
    """Arguments of BlueLake's send to RedFox with client_msg_id ``job-1``."""
    args = {
        "project_key": PROJECT,
        "sender_name": "BlueLake",
        "to": ["RedFox"],
        "subject": "Deploy done",
        "body_md": "Version 2 is live.",
        "client_msg_id": "job-1",
    }
    args.update(overrides)
    return args


def counts() -> tuple[int, int, int, int]:
    """Messages, recipient rows, the last archive job queued and client_sends rows."""
    return (
        db_kit.count("messages"),
        db_kit.count("message_recipients"),
        db_kit.outbox_last_id(),
        db_kit.count("client_sends"),
    )


async def test_a_retried_send_gets_the_first_answer_and_stores_one_message(client):
    first = (await client.call_tool("send_message", send_args())).data
    after = counts()
    again = (await client.call_tool("send_message", send_args())).data
    assert again == first and counts() == after and after[0] == after[3] == 1
    assert first["deliveries"][0]["payload"]["subject"] == "Deploy done"


async def test_concurrent_identical_calls_store_one_message(client):
    results = await asyncio.gather(*(client.call_tool("send_message", send_args()) for _ in range(10)))
    ids = {result.data["deliveries"][0]["payload"]["id"] for result in results}
    assert len(ids) == 1 and db_kit.count("messages") == 1


async def test_the_same_id_with_other_content_is_an_invalid_argument_that_changes_nothing(client):
    await client.call_tool("send_message", send_args())
    before = counts()
    with pytest.raises(ToolError) as caught:
        await client.call_tool("send_message", send_args(body_md="Version 3 is live."))
    text = str(caught.value)
    assert text.startswith("INVALID_ARGUMENT") and "'job-1' was already used for a different message" in text
    assert "Hint:" in text and counts() == before


async def test_a_malformed_id_is_refused(client):
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: client_msg_id 'has space'") as caught:
        await client.call_tool("send_message", send_args(client_msg_id="has space"))
    assert "UUID" in str(caught.value) and counts()[0] == 0


async def test_a_retried_reply_gets_the_first_reply(client):
    original = (await client.call_tool("send_message", send_args())).data["deliveries"][0]["payload"]["id"]
    reply = {
        "project_key": PROJECT,
        "message_id": original,
        "sender_name": "RedFox",
        "body_md": "Thanks.",
        "client_msg_id": "r-1",
    }
    first = (await client.call_tool("reply_message", reply)).data
    again = (await client.call_tool("reply_message", reply)).data
    assert again == first and db_kit.count("messages") == 2


async def test_unread_only_shows_what_is_still_unread(client):
    ids = []
    for n in range(3):
        sent = await client.call_tool("send_message", send_args(subject=f"n{n}", client_msg_id=f"n-{n}"))
        ids.append(sent.data["deliveries"][0]["payload"]["id"])
    reader = {"project_key": PROJECT, "agent_name": "RedFox"}
    await client.call_tool("mark_message_read", {**reader, "message_id": ids[1]})
    listed = await client.call_tool("fetch_inbox", {**reader, "unread_only": True})
    assert [item["id"] for item in listed.structured_content["result"]] == [ids[2], ids[0]]
    everything = await client.call_tool("fetch_inbox", reader)
    assert len(everything.structured_content["result"]) == 3


# ---------------------------------------------------------------------------- real server processes


async def _setup(url: str) -> dict[str, Any]:
    """Create the load project with two agents; return send arguments from the first to the second."""
    (sender, token), (recipient, _) = await load_http.setup_agents(url, 2)
    return {
        "project_key": load_http.PROJECT,
        "sender_name": sender,
        "sender_token": token,
        "to": [recipient],
        "subject": "Exactly once",
        "body_md": "Sent across servers.",
        "client_msg_id": "0b7e5f1c-9a4e-4f55-a3a7-2f1f3e0a9c11",
    }


async def _send(url: str, args: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        result: dict[str, Any] = await load_http.call_tool(http, url, "send_message", args)
        return result


@pytest.mark.slow
async def test_retries_racing_on_two_servers_store_one_message(tmp_path: Path, new_database_url: Callable[[Path], str]):
    database = new_database_url(tmp_path / "mailbox.sqlite3")
    env = load_http.mailbox_env(tmp_path, database)
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(load_http.running_server(env, tmp_path / "first.log"))
        second = stack.enter_context(load_http.running_server(env, tmp_path / "second.log"))
        args = await _setup(first.url)
        results = await asyncio.gather(*(_send(server.url, args) for server in (first, second) * 6))
    ids = {result["deliveries"][0]["payload"]["id"] for result in results}
    assert len(ids) == 1 and all(result == results[0] for result in results)
    assert db_kit.count("messages", url=database) == 1
    assert db_kit.count("client_sends", url=database) == 1


@pytest.mark.slow
async def test_a_retry_after_the_server_was_killed_and_restarted_stores_nothing(
    tmp_path: Path, new_database_url: Callable[[Path], str]
):
    database = new_database_url(tmp_path / "mailbox.sqlite3")
    env = load_http.mailbox_env(tmp_path, database)
    server = load_http.ServerProcess(env, tmp_path / "before.log")
    try:
        server.wait_alive()
        args = await _setup(server.url)
        first = await _send(server.url, args)
    finally:
        server.kill()  # no shutdown work: the answer was given after the commit, so the row is there
    with load_http.running_server(env, tmp_path / "after.log") as restarted:
        again = await _send(restarted.url, args)
        with pytest.raises(load_http.ToolFailed, match=r"INVALID_ARGUMENT.*different message"):
            await _send(restarted.url, {**args, "body_md": "Something else."})
    assert again == first
    assert db_kit.count("messages", url=database) == 1
