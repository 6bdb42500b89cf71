"""Lone surrogates in any tool argument: INVALID_ARGUMENT naming the parameter, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import McpError, ToolError

import db_kit
from mcp_agent_mail.app import build_mcp_server

PROJECT = "/work/unicode-test"
HINT = "Hint: Send text as valid UTF-8"


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


def database_digest() -> str:
    """A digest of every row of every table but the archive queue (the writer drains it meanwhile)."""
    return db_kit.digest()


async def refused_text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    with pytest.raises(ToolError) as caught:
        await client.call_tool(tool, arguments)
    return str(caught.value)


SEND = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "Hi", "body_md": "b"}
CASES = [
    ("send_message", {**SEND, "subject": "plan \ud800"}, "subject", 5),
    ("send_message", {**SEND, "body_md": "\udfff"}, "body_md", 0),
    ("send_message", {**SEND, "to": ["RedFox", "Blue\ud83d"]}, "to[1]", 4),
    ("register_agent", {"project_key": PROJECT, "program": "p\udc80", "model": "m"}, "program", 1),
    ("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "Green\ud800"}, "name", 5),
    ("ensure_project", {"human_key": "/work/\ud800"}, "human_key", 6),
    ("search_messages", {"project_key": PROJECT, "query": "\ud800plan"}, "query", 0),
    (
        "file_reservation_paths",
        {"project_key": PROJECT, "agent_name": "BlueLake", "paths": ["src/\ud800*.py"]},
        "paths[0]",
        4,
    ),
]


@pytest.mark.parametrize(("tool", "arguments", "where", "index"), CASES, ids=[case[2] for case in CASES])
async def test_a_lone_surrogate_is_invalid_argument_naming_the_parameter(
    client, isolated_env, tool, arguments, where, index
):
    before = database_digest()
    text = await refused_text(client, tool, arguments)
    assert text.startswith(f"INVALID_ARGUMENT: {where} is not valid Unicode: it holds a lone surrogate (U+")
    assert f"at character {index}. {HINT}" in text
    assert database_digest() == before


async def test_every_text_parameter_of_every_tool_refuses_a_lone_surrogate(client, isolated_env):
    before = database_digest()
    swept = 0
    for tool in await client.list_tools():
        for name, schema in tool.inputSchema.get("properties", {}).items():
            if schema.get("type") == "string":
                value: Any = "ok\ud800"
                where = name
            elif schema.get("type") == "array" and schema.get("items", {}).get("type") == "string":
                value, where = ["fine", "\ud800"], f"{name}[1]"
            else:
                continue
            text = await refused_text(client, tool.name, {name: value})
            assert text.startswith(f"INVALID_ARGUMENT: {where} is not valid Unicode"), (tool.name, name, text)
            swept += 1
    assert swept > 100
    assert database_digest() == before


async def test_text_outside_the_basic_plane_is_stored_as_sent(client):
    arguments = {**SEND, "subject": "ship it \U0001f680", "body_md": "e\u0301"}
    sent = (await client.call_tool("send_message", arguments)).data
    assert sent["deliveries"][0]["payload"]["subject"] == "ship it \U0001f680"


async def test_a_resource_uri_with_a_lone_surrogate_is_invalid_argument(isolated_env):
    server = build_mcp_server()
    async with Client(server):  # the server's lifespan runs; the client itself refuses such a URI
        with pytest.raises(McpError) as caught:
            await server.read_resource(f"resource://inbox/BlueLake?project={PROJECT}&since_ts=\ud800")
    assert caught.value.error.code == -32602
    assert caught.value.error.message.startswith("INVALID_ARGUMENT: the resource URI is not valid Unicode")
