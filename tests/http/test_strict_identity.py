"""Strict identity over the stateless HTTP endpoint: no session remembers a caller, so the token goes on every call."""

from __future__ import annotations

import json

from http_kit import ensure_project, row_counts, serving, tool_call

PROJECT = "/work/http-strict"


def _register(name: str) -> dict[str, object]:
    return tool_call(
        "register_agent", {"project_key": PROJECT, "program": "codex", "model": "gpt", "name": name}, ident=2
    )


def _send(**extra: object) -> dict[str, object]:
    arguments = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "hi", "body_md": "x"}
    return tool_call("send_message", {**arguments, **extra}, ident=3)


async def test_a_call_without_the_token_is_told_to_send_it_on_every_call(make_app):
    app = make_app(AGENT_IDENTITY_MODE="strict")
    async with serving(app) as client:
        http = client()
        assert (await http.post("/mcp/", json=ensure_project(PROJECT))).status_code == 200
        blue = (await http.post("/mcp/", json=_register("BlueLake"))).json()["result"]["structuredContent"]
        await http.post("/mcp/", json=_register("RedFox"))
        before = row_counts()
        refused = (await http.post("/mcp/", json=_send())).json()["result"]
        assert refused["isError"] is True
        text = json.dumps(refused)
        assert "UNAUTHORIZED" in text and "pass the token on every call" in text
        assert "session that registered" not in text  # no HTTP session can prove who calls
        assert row_counts() == before
        sent = (await http.post("/mcp/", json=_send(sender_token=blue["registration_token"]))).json()["result"]
        assert sent.get("isError") is not True and sent["structuredContent"]["verified_sender"] is True
