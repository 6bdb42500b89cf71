"""Origin allow-list (DNS-rebinding protection) and CORS, which is off unless origins are named."""

from __future__ import annotations

import pytest
from http_kit import assert_refused, ensure_project, health, row_counts, serving

from mcp_agent_mail.errors import ConfigurationError

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


async def test_foreign_origin_is_refused_before_anything_runs(make_app, isolated_env):
    app = make_app()
    async with serving(app) as client:
        local = client()
        hostile = await local.post("/mcp/", json=ensure_project(), headers={"Origin": "https://evil.example"})
        error = assert_refused(hostile, 403, "FORBIDDEN")
        assert "evil.example" in error["message"] and "HTTP_ALLOWED_ORIGINS" in error["hint"]
        assert row_counts().get("projects", 0) == 0
        for own in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"):
            response = await local.post("/mcp/", json=health(), headers={"Origin": own})
            assert response.status_code == 200, (own, response.text)
        assert (await local.get("/health/liveness", headers={"Origin": "https://evil.example"})).status_code == 200


async def test_configured_allow_list_replaces_the_default(make_app):
    app = make_app(HTTP_ALLOWED_ORIGINS="https://console.example.com/")
    async with serving(app) as client:
        local = client()
        ok = await local.post("/mcp/", json=health(), headers={"Origin": "https://console.example.com"})
        assert ok.status_code == 200
        assert "access-control-allow-origin" not in ok.headers
        refused = await local.post("/mcp/", json=health(), headers={"Origin": "http://127.0.0.1:8765"})
        assert_refused(refused, 403, "FORBIDDEN")


async def test_cors_is_off_by_default(make_app):
    app = make_app()
    async with serving(app) as client:
        preflight = await client().options("/mcp/", headers={"Origin": "http://localhost:8765", **PREFLIGHT})
        assert "access-control-allow-origin" not in preflight.headers


async def test_cors_answers_only_the_named_origins(make_app):
    app = make_app(HTTP_CORS_ENABLED="true", HTTP_CORS_ORIGINS="https://app.example.com")
    async with serving(app) as client:
        local = client()
        preflight = await local.options("/mcp/", headers={"Origin": "https://app.example.com", **PREFLIGHT})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        call = await local.post("/mcp/", json=health(), headers={"Origin": "https://app.example.com"})
        assert call.status_code == 200 and call.headers["access-control-allow-origin"] == "https://app.example.com"
        foreign = await local.options("/mcp/", headers={"Origin": "https://other.example", **PREFLIGHT})
        assert foreign.status_code in (400, 403) and "access-control-allow-origin" not in foreign.headers
        assert_refused(
            await local.post("/mcp/", json=health(), headers={"Origin": "https://other.example"}), 403, "FORBIDDEN"
        )


@pytest.mark.parametrize("origins", ["", "*", "https://a.example,*"])
def test_cors_needs_explicit_origins(make_app, origins):
    with pytest.raises(ConfigurationError) as caught:
        make_app(HTTP_CORS_ENABLED="true", HTTP_CORS_ORIGINS=origins)
    assert "HTTP_CORS_ORIGINS" in caught.value.message + caught.value.hint
