"""The direct ``tools/call`` route answers exactly as the MCP SDK's stateless route does."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from http_kit import rpc, serving, tool_call
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from mcp_agent_mail.services import metrics

PROJECT = "/work/fastpath"
MODERN = MODERN_PROTOCOL_VERSIONS[0]
LEGACY = HANDSHAKE_PROTOCOL_VERSIONS[-1]
VOLATILE = frozenset({"id", "created_ts", "sent_ts", "last_active_ts", "inception_ts", "expires_ts", "message_id"})
MOVING = frozenset({"recent_commits", "archive_pending"})  # the archive writer changes these between two calls


def modern_call(name: str, arguments: dict[str, Any], ident: int = 1) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-era request: protocol version and capabilities in ``_meta`` and routing headers."""
    body = tool_call(name, arguments, ident)
    body["params"]["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return body, {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name}


def request(era: str, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The same call as a client of the given protocol era would send it."""
    if era == "modern":
        return modern_call(name, arguments)
    if era == "legacy-header":
        return tool_call(name, arguments), {"MCP-Protocol-Version": LEGACY}
    return tool_call(name, arguments), {}


async def both_ways(
    app: Any, client: httpx.AsyncClient, body: Any, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """Send the request once through the direct route and once through the SDK's (same bytes both times)."""
    fast_path = app.state.fast_path
    assert fast_path is not None and fast_path.enabled
    raw = json.dumps(body).encode()  # ASCII escapes, NaN as JavaScript writes it
    direct = await client.post("/mcp/", content=raw, headers=headers)
    fast_path.enabled = False
    try:
        through_sdk = await client.post("/mcp/", content=raw, headers=headers)
    finally:
        fast_path.enabled = True
    return direct, through_sdk


def masked(value: Any) -> Any:
    """The value with ids and timestamps of new rows replaced (also inside JSON text content)."""
    if isinstance(value, dict):
        return {key: "*" if key in VOLATILE else masked(item) for key, item in value.items() if key not in MOVING}
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return masked(json.loads(value))
        except ValueError:
            return value
    return value


def comparable(response: httpx.Response) -> tuple[int, str, Any]:
    """Status, media type and JSON body with ids and timestamps of new rows masked."""
    return response.status_code, response.headers["content-type"].split(";")[0], masked(response.json())


@contextlib.asynccontextmanager
async def mailbox(make_app: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient, list[dict[str, Any]]]]:
    """A served app with a project and two agents: (app, client, [alice, bob])."""
    app = make_app()
    async with serving(app) as client:
        http = client()
        await http.post("/mcp/", json=tool_call("ensure_project", {"human_key": PROJECT}))
        agents = []
        for _ in range(2):
            made = await http.post(
                "/mcp/", json=tool_call("register_agent", {"project_key": PROJECT, "program": "p", "model": "m"})
            )
            agents.append(made.json()["result"]["structuredContent"])
        yield app, http, agents


@pytest.mark.parametrize("era", ["legacy", "legacy-header", "modern"])
async def test_every_kind_of_outcome_is_answered_as_the_sdk_answers_it(make_app, era):
    async with mailbox(make_app) as (app, http, (alice, bob)):
        send = {
            "project_key": PROJECT,
            "sender_name": alice["name"],
            "sender_token": alice["registration_token"],
            "to": [bob["name"]],
            "subject": "Plan for the parser",
            "body_md": "Let us split **the parser**.",
        }
        reader = {"project_key": PROJECT, "agent_name": bob["name"], "registration_token": bob["registration_token"]}
        cases = [
            ("send_message", send),  # a write with a dict result
            ("fetch_inbox", {**reader, "include_bodies": True}),  # a list result
            ("fetch_inbox", {**reader, "format": "table"}),  # a text result
            ("search_messages", {**reader, "query": "parser"}),
            ("whois", {"project_key": PROJECT, "agent_name": alice["name"]}),
            ("health_check", {}),
            ("whois", {"project_key": PROJECT, "agent_name": "NobodyHere"}),  # a coded tool error
            ("send_message", {**send, "importance": "sky-high"}),  # argument validation
            ("fetch_inbox", {**reader, "limit": "many"}),  # wrong type
            ("fetch_inbox", {**reader, "unexpected": 1}),  # unknown parameter
            ("send_message", {"project_key": PROJECT}),  # missing arguments
        ]
        for name, arguments in cases:
            body, headers = request(era, name, arguments)
            direct, through_sdk = await both_ways(app, http, body, headers)
            assert comparable(direct) == comparable(through_sdk), (name, arguments, direct.text, through_sdk.text)
            assert direct.status_code == 200


def counts() -> dict[str, tuple[int, int]]:
    """Calls and errors per tool, as the metrics resource reports them."""
    return {row["name"]: (row["calls"], row["errors"]) for row in metrics.snapshot()["tools"]}


async def test_direct_calls_are_counted_in_the_metrics(make_app):
    async with mailbox(make_app) as (app, http, (alice, _bob)):
        assert app.state.fast_path.enabled
        before = counts()
        ok = await http.post("/mcp/", json=tool_call("whois", {"project_key": PROJECT, "agent_name": alice["name"]}))
        failed = await http.post("/mcp/", json=tool_call("whois", {"project_key": PROJECT, "agent_name": "Nobody"}))
        assert ok.json()["result"]["isError"] is False and failed.json()["result"]["isError"] is True
        calls, errors = before.get("whois", (0, 0))
        assert counts()["whois"] == (calls + 2, errors + 1)


async def test_both_routes_record_a_call_the_same_way(make_app):
    async with mailbox(make_app) as (app, http, (alice, _bob)):
        for agent in (alice["name"], "Nobody"):
            body, headers = request("legacy", "whois", {"project_key": PROJECT, "agent_name": agent})
            metrics.reset()
            await both_ways(app, http, body, headers)
            direct, through_sdk = [metrics.record_dict(record) for record in metrics.recent_calls(600)]
            for entry in (direct, through_sdk):
                del entry["timestamp"], entry["duration_ms"]
            assert (
                direct == through_sdk == {"tool": "whois", "ok": agent != "Nobody", "project": PROJECT, "agent": agent}
            )


async def test_requests_it_cannot_answer_go_the_regular_way(make_app):
    async with mailbox(make_app) as (app, http, (alice, _bob)):
        whois = {"project_key": PROJECT, "agent_name": alice["name"]}
        unusual = [
            (tool_call("no_such_tool", {}), {}),
            ([tool_call("whois", whois, 1), tool_call("whois", whois, 2)], {}),  # a batch
            (rpc("tools/list"), {}),
            (tool_call("whois", {**whois, "agent_name": "\ud800"}), {}),  # a lone surrogate
            (tool_call("whois", {**whois, "agent_name": float("nan")}), {}),
            (tool_call("whois", whois), {"Accept": "text/event-stream"}),
            (
                {
                    **tool_call("whois", whois),
                    "params": {"name": "whois", "arguments": whois, "_meta": {"progressToken": 7}},
                },
                {},
            ),
        ]
        for body, headers in unusual:
            direct, through_sdk = await both_ways(app, http, body, headers)
            assert comparable(direct) == comparable(through_sdk), (body, direct.text, through_sdk.text)
