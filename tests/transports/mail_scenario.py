"""The user journey every transport must carry: project, two agents, mail, search, a reservation."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import McpError, ToolError

PROJECT = "/work/transport-demo"
SUBJECT = "Schema migration plan"
BODY = "Moving **users** to the new table; please review `db/schema.py` before Friday."


def make_mailbox_env(root: Path, database_url: str) -> dict[str, str]:
    """Return a process environment using ``database_url``, whose archive and data directory live under ``root``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HTTP_", "DATABASE_", "STORAGE_"))}
    env.update(
        {
            "MCP_AGENT_MAIL_HOME": str(root / "home"),
            "DATABASE_URL": database_url,
            "STORAGE_ROOT": str(root / "archive"),
            "APP_ENVIRONMENT": "test",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records(data: Any) -> list[dict[str, Any]]:
    """Return the records of a list-returning tool (a bare list or ``{"result": [...]}``)."""
    if isinstance(data, dict):
        data = data.get("result", [])
    assert isinstance(data, list), data
    return [dict(item) for item in data]


async def register_pair(client: Client) -> tuple[str, str]:
    """Create the project and two agents; return their names."""
    project = (await client.call_tool("ensure_project", {"human_key": PROJECT})).data
    assert project["human_key"] == PROJECT
    names = []
    for program in ("claude-code", "codex"):
        created = (
            await client.call_tool("create_agent_identity", {"project_key": PROJECT, "program": program, "model": "m"})
        ).data
        names.append(created["name"])
    assert names[0] != names[1]
    return names[0], names[1]


async def assert_coded_error(client: Client) -> None:
    """A bad argument comes back as a tool error whose text starts with its code."""
    with pytest.raises(ToolError) as caught:
        await client.call_tool("ensure_project", {"human_key": "relative/path"})
    assert str(caught.value).startswith("INVALID_ARGUMENT: ")
    assert "Hint:" in str(caught.value)


async def assert_coded_refusals(client: Client) -> None:
    """A wrong type, a missing or unknown argument, an unknown tool or resource: each one coded line with a hint."""
    cases = [
        (
            "fetch_inbox",
            {"project_key": PROJECT, "agent_name": "Nobody", "limit": "lots"},
            'INVALID_ARGUMENT: limit must be an integer; got "lots". Hint: ',
        ),
        ("fetch_inbox", {"project_key": PROJECT}, "INVALID_ARGUMENT: agent_name is required but missing. Hint: "),
        (
            "ensure_project",
            {"human_key": PROJECT, "colour": "red"},
            "INVALID_ARGUMENT: ensure_project has no parameter 'colour'. Hint: ensure_project takes ",
        ),
        ("fetch_inbx", {}, "NOT_FOUND: no tool named 'fetch_inbx'. Hint: tools/list shows "),
    ]
    for tool, arguments, start in cases:
        with pytest.raises(ToolError) as caught:
            await client.call_tool(tool, arguments)
        assert str(caught.value).startswith(start), str(caught.value)
    with pytest.raises(McpError) as missing:
        await client.read_resource("resource://no-such-thing")
    assert missing.value.error.message.startswith("NOT_FOUND: no resource at 'resource://no-such-thing'. Hint: ")


async def exchange_mail(client: Client, sender: str, recipient: str) -> list[str]:
    """Send, fetch, search and reserve; return the names of tools this server lacks."""
    tools = {tool.name for tool in await client.list_tools()}
    missing = [
        name
        for name in ("send_message", "fetch_inbox", "search_messages", "file_reservation_paths")
        if name not in tools
    ]
    if "send_message" in tools:
        await client.call_tool(
            "send_message",
            {"project_key": PROJECT, "sender_name": sender, "to": [recipient], "subject": SUBJECT, "body_md": BODY},
        )
    if "fetch_inbox" in tools and "send_message" in tools:
        inbox = records(
            (
                await client.call_tool(
                    "fetch_inbox", {"project_key": PROJECT, "agent_name": recipient, "include_bodies": True}
                )
            ).data
        )
        assert [item["subject"] for item in inbox] == [SUBJECT]
        assert inbox[0]["from"] == sender
    if "search_messages" in tools and "send_message" in tools:
        found = records(
            (
                await client.call_tool(
                    "search_messages", {"project_key": PROJECT, "query": "migration", "agent_name": recipient}
                )
            ).data
        )
        assert [item["subject"] for item in found] == [SUBJECT]
    if "file_reservation_paths" in tools:
        granted = (
            await client.call_tool(
                "file_reservation_paths",
                {"project_key": PROJECT, "agent_name": sender, "paths": ["db/*.py"], "ttl_seconds": 600},
            )
        ).data
        assert [item["path_pattern"] for item in granted["granted"]] == ["db/*.py"]
    return missing
