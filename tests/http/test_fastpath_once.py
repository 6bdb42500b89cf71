"""client_msg_id and unread_only over HTTP: the direct tools/call route and the SDK's route give the same
answers, and a retry through either stores nothing new."""

from __future__ import annotations

import json
from typing import Any

import httpx
from http_kit import serving, tool_call

import db_kit

PROJECT = "/work/fastpath-once"


async def call(app: Any, http: httpx.AsyncClient, name: str, arguments: dict[str, Any], *, direct: bool) -> Any:
    """Post one tools/call, through the direct route or (``direct=False``) the SDK's; return the JSON-RPC result."""
    fast_path = app.state.fast_path
    assert fast_path is not None and fast_path.enabled
    fast_path.enabled = direct
    try:
        response = await http.post("/mcp/", content=json.dumps(tool_call(name, arguments)).encode())
    finally:
        fast_path.enabled = True
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def test_retries_and_unread_only_work_on_both_routes(make_app):
    app = make_app()
    async with serving(app) as client:
        http = client()
        await http.post("/mcp/", json=tool_call("ensure_project", {"human_key": PROJECT}))
        alice, bob = [
            (
                await http.post(
                    "/mcp/", json=tool_call("register_agent", {"project_key": PROJECT, "program": "p", "model": "m"})
                )
            ).json()["result"]["structuredContent"]
            for _ in range(2)
        ]
        send = {
            "project_key": PROJECT,
            "sender_name": alice["name"],
            "sender_token": alice["registration_token"],
            "to": [bob["name"]],
            "subject": "Once",
            "body_md": "Only once, whichever route.",
            "client_msg_id": "route-1",
        }
        direct = await call(app, http, "send_message", send, direct=True)
        through_sdk = await call(app, http, "send_message", send, direct=False)
        assert direct == through_sdk and direct["isError"] is False
        assert db_kit.count("messages") == db_kit.count("client_sends") == 1

        changed = {**send, "subject": "Twice?"}
        refusals = [await call(app, http, "send_message", changed, direct=way) for way in (True, False)]
        assert refusals[0] == refusals[1] and refusals[0]["isError"] is True
        assert refusals[0]["content"][0]["text"].startswith("INVALID_ARGUMENT: client_msg_id 'route-1'")
        assert db_kit.count("messages") == 1

        other = await call(app, http, "send_message", {**send, "client_msg_id": "route-2"}, direct=True)
        read_id = direct["structuredContent"]["deliveries"][0]["payload"]["id"]
        reader = {"project_key": PROJECT, "agent_name": bob["name"], "registration_token": bob["registration_token"]}
        await call(app, http, "mark_message_read", {**reader, "message_id": read_id}, direct=True)
        unread = [
            await call(app, http, "fetch_inbox", {**reader, "unread_only": True}, direct=way) for way in (True, False)
        ]
        assert unread[0] == unread[1]
        listed = unread[0]["structuredContent"]["result"]
        assert [item["id"] for item in listed] == [other["structuredContent"]["deliveries"][0]["payload"]["id"]]
