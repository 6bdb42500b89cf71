"""Tool calls through an MCP server are counted once each, with the project and agent they named."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.services import metrics
from mcp_agent_mail.tools.call_metrics import ToolCallMetrics

PROJECT = "/work/call-metrics"


@pytest.fixture
async def client(isolated_env) -> AsyncIterator[Client]:
    metrics.reset()
    server = build_mcp_server()
    assert sum(isinstance(item, ToolCallMetrics) for item in server.middleware) == 1
    async with Client(server) as c:
        yield c
    metrics.reset()


def _counts() -> dict[str, tuple[int, int]]:
    return {row["name"]: (row["calls"], row["errors"]) for row in metrics.snapshot()["tools"]}


async def test_each_call_is_counted_once_with_its_project_and_agent(client):
    await client.call_tool("ensure_project", {"human_key": PROJECT})
    made = (
        await client.call_tool("create_agent_identity", {"project_key": PROJECT, "program": "p", "model": "m"})
    ).data
    await client.call_tool("whois", {"project_key": PROJECT, "agent_name": made["name"]})
    assert _counts() == {"ensure_project": (1, 0), "create_agent_identity": (1, 0), "whois": (1, 0)}
    entries = [metrics.record_dict(record) for record in metrics.recent_calls(600)]
    assert [(e["tool"], e["project"], e.get("agent")) for e in entries] == [
        ("ensure_project", PROJECT, None),
        ("create_agent_identity", PROJECT, None),
        ("whois", PROJECT, made["name"]),
    ]


async def test_failed_and_unknown_calls_count_as_errors(client):
    with pytest.raises(ToolError, match=r"^NOT_FOUND"):
        await client.call_tool("whois", {"project_key": "/work/nowhere", "agent_name": "Nobody"})
    with pytest.raises(ToolError, match=r"^NOT_FOUND: no tool named 'who_is'"):
        await client.call_tool("who_is", {})
    assert _counts() == {"whois": (1, 1), "who_is": (1, 1)}
    [failed, unknown] = [metrics.record_dict(record) for record in metrics.recent_calls(600)]
    assert failed["ok"] is False and failed["project"] == "/work/nowhere" and failed["agent"] == "Nobody"
    assert unknown["ok"] is False and "project" not in unknown
