"""The HTTP app mounted without its lifespan (as clients' tests do with httpx.ASGITransport)."""

from __future__ import annotations

import httpx
from http_kit import JSON_HEADERS, LOCAL, ensure_project, row_counts, rpc, serving
from starlette.applications import Starlette

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.http.app import build_http_app


def unstarted_client(app: Starlette) -> httpx.AsyncClient:
    """An ASGI client that never sends lifespan events to the app."""
    transport = httpx.ASGITransport(app=app, client=LOCAL)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765", headers=JSON_HEADERS)


async def test_tool_calls_are_answered_without_the_lifespan(make_app, isolated_env):
    app = make_app()
    async with unstarted_client(app) as http:
        response = await http.post("/mcp/", json=ensure_project("/work/no-lifespan"))
    assert response.status_code == 200, response.text
    assert response.json()["result"]["structuredContent"]["human_key"] == "/work/no-lifespan"
    assert row_counts()["projects"] == 1


async def test_other_mcp_requests_say_the_lifespan_is_needed_then_work_once_it_runs(make_app, isolated_env):
    app = make_app()
    async with unstarted_client(app) as http:
        refused = await http.post("/mcp/", json=rpc("tools/list"))
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["detail"] == "Service Unavailable" and body["error"]["code"] == "UNAVAILABLE"
    assert "lifespan" in body["error"]["message"] and "lifespan_context" in body["error"]["hint"]
    async with serving(app) as client:
        listed = await client().post("/mcp/", json=rpc("tools/list"))
    assert listed.status_code == 200 and listed.json()["result"]["tools"]


async def test_without_the_direct_route_every_mcp_request_is_refused_without_changing_anything(isolated_env):
    clear_settings_cache()
    app = build_http_app(get_settings(), fast_path=False)
    before = row_counts()
    async with unstarted_client(app) as http:
        refused = await http.post("/mcp/", json=ensure_project("/work/refused"))
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "UNAVAILABLE"
    assert row_counts() == before
