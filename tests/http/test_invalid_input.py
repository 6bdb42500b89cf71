"""Invalid Unicode, wrong arguments and unknown names over HTTP: coded answers on the direct route and the SDK's."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from http_kit import row_counts, rpc, serving, tool_call

PROJECT = "/work/http-invalid"
SURROGATE_HINT = "Hint: Send text as valid UTF-8"


@contextlib.asynccontextmanager
async def mailbox(make_app: Any, *, direct: bool) -> AsyncIterator[httpx.AsyncClient]:
    """A served app with a project and two agents; ``direct=False`` sends every call through the MCP SDK."""
    app = make_app()
    async with serving(app) as client:
        http = client()
        await http.post("/mcp/", json=tool_call("ensure_project", {"human_key": PROJECT}))
        for name in ("BlueLake", "RedFox"):
            await http.post(
                "/mcp/",
                json=tool_call("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name}),
            )
        app.state.fast_path.enabled = direct
        yield http


def escaped(body: Any) -> bytes:
    """The body as JSON with every non-ASCII character escaped, so lone surrogates travel as ``\\udXXX``."""
    return json.dumps(body, ensure_ascii=True).encode()


def send(**overrides: Any) -> dict[str, Any]:
    args = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "Hi", "body_md": "b"}
    args.update(overrides)
    return tool_call("send_message", args, ident=7)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "sdk"])
async def test_a_lone_surrogate_in_a_tool_argument_is_invalid_argument(make_app, isolated_env, direct):
    async with mailbox(make_app, direct=direct) as http:
        before = row_counts()
        for body, where in [
            (send(subject="plan \ud800"), "subject"),
            (send(body_md="\udfff"), "body_md"),
            (send(to=["RedFox", "Blue\ud83d"]), "to[1]"),
            (tool_call("search_messages", {"project_key": PROJECT, "query": "\ud800"}, ident=7), "query"),
        ]:
            response = await http.post("/mcp/", content=escaped(body))
            assert response.status_code == 400, response.text
            answer = response.json()
            assert answer["id"] == 7
            assert answer["error"]["code"] == -32602
            message = answer["error"]["message"]
            assert message.startswith(f"INVALID_ARGUMENT: {where} is not valid Unicode"), message
            assert SURROGATE_HINT in message
        assert row_counts() == before


async def test_a_lone_surrogate_anywhere_in_a_request_is_named(make_app):
    async with mailbox(make_app, direct=True) as http:
        read = rpc("resources/read", {"uri": "resource://project/\ud800"})
        batch = [
            tool_call("whois", {"project_key": PROJECT, "agent_name": "RedFox"}, 1),
            tool_call("whois", {"project_key": PROJECT, "agent_name": "\udc80"}, 2),
        ]
        bad_name = tool_call("who\ud800is", {})
        for body, start, ident in [
            (read, "INVALID_ARGUMENT: params.uri is not valid Unicode", 1),
            (batch, "INVALID_ARGUMENT: agent_name is not valid Unicode", None),
            (bad_name, "INVALID_ARGUMENT: the tool name is not valid Unicode", 1),
        ]:
            response = await http.post("/mcp/", content=escaped(body))
            assert response.status_code == 400, response.text
            assert response.json()["id"] == ident
            assert response.json()["error"]["message"].startswith(start), response.text


async def test_escaped_surrogate_pairs_are_ordinary_text(make_app):
    async with mailbox(make_app, direct=True) as http:
        response = await http.post("/mcp/", content=escaped(send(subject="ship it \U0001f680")))
        assert b"\\ud83d\\ude80" in escaped(send(subject="ship it \U0001f680"))
        result = response.json()["result"]
        assert result["isError"] is False
        assert result["structuredContent"]["deliveries"][0]["payload"]["subject"] == "ship it \U0001f680"


async def test_a_body_that_is_not_utf8_is_invalid_argument(make_app, isolated_env):
    async with mailbox(make_app, direct=True) as http:
        before = row_counts()
        raw = escaped(send(subject="SUBJECT")).replace(b"SUBJECT", b"caf\xe9")
        response = await http.post("/mcp/", content=raw)
        assert response.status_code == 400
        message = response.json()["error"]["message"]
        assert message.startswith("INVALID_ARGUMENT: The request body is not valid UTF-8: byte 0xe9 at offset ")
        assert row_counts() == before


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "sdk"])
async def test_argument_errors_and_unknown_names_start_with_their_code(make_app, direct):
    async with mailbox(make_app, direct=direct) as http:
        reader = {"project_key": PROJECT, "agent_name": "RedFox"}
        for name, arguments, start in [
            ("fetch_inbox", {**reader, "limit": "lots"}, 'INVALID_ARGUMENT: limit must be an integer; got "lots".'),
            ("fetch_inbox", {"project_key": PROJECT}, "INVALID_ARGUMENT: agent_name is required but missing."),
            ("fetch_inbox", {**reader, "bogus": 1}, "INVALID_ARGUMENT: fetch_inbox has no parameter 'bogus'."),
            ("fetch_inbx", reader, "NOT_FOUND: no tool named 'fetch_inbx'."),
        ]:
            response = await http.post("/mcp/", json=tool_call(name, arguments))
            assert response.status_code == 200
            result = response.json()["result"]
            text = result["content"][0]["text"]
            assert result["isError"] is True
            assert text.startswith(start) and " Hint: " in text, text
        missing = await http.post("/mcp/", json=rpc("resources/read", {"uri": "resource://nope"}))
        assert missing.json()["error"]["message"].startswith("NOT_FOUND: no resource at 'resource://nope'. Hint: ")
