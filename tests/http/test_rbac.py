"""Roles: readers call read-only tools only (decided by each tool's annotation); every batch element is checked."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP
from http_kit import REMOTE, assert_refused, ensure_project, health, row_counts, rpc, serving, tool_call
from jwks_kit import SECRET, hs_token
from mcp.types import ToolAnnotations

JWT_ENV = {"HTTP_JWT_ENABLED": "true", "HTTP_JWT_SECRET": SECRET}
ROLE_TOKEN_ENV = {**JWT_ENV, "HTTP_BEARER_TOKEN": "team-writer-token"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reader() -> dict[str, str]:
    return bearer(hs_token(role="reader", aud=None, iss=None))


async def test_reader_reads_but_never_changes_state(make_app, isolated_env):
    app = make_app(**ROLE_TOKEN_ENV)
    async with serving(app) as client:
        remote = client(REMOTE)
        setup = await remote.post("/mcp/", json=ensure_project(), headers=bearer("team-writer-token"))
        assert setup.status_code == 200
        before = row_counts()

        for call in (health(), rpc("tools/list"), rpc("resources/list"), rpc("ping")):
            response = await remote.post("/mcp/", json=call, headers=reader())
            assert response.status_code == 200, (call, response.text)
            assert "error" not in response.json() or call["method"] == "resources/list", response.text

        refused = await remote.post("/mcp/", json=ensure_project("/work/reader-made"), headers=reader())
        error = assert_refused(refused, 403, "FORBIDDEN")
        assert "ensure_project" in error["message"] and "writer" in error["message"]

        agent = tool_call("create_agent_identity", {"project_key": "/work/http-protect", "program": "p", "model": "m"})
        assert_refused(await remote.post("/api/", json=agent, headers=reader()), 403, "FORBIDDEN")
        assert_refused(await remote.post("/mcp/", content=b"{not json", headers=reader()), 403, "FORBIDDEN")
    assert row_counts() == before


async def test_every_element_of_a_batch_is_checked(make_app, isolated_env):
    app = make_app(**JWT_ENV)
    async with serving(app) as client:
        remote = client(REMOTE)
        batch = [health(), ensure_project("/work/smuggled", ident=2)]
        assert_refused(await remote.post("/mcp/", json=batch, headers=reader()), 403, "FORBIDDEN")
        writer = bearer(hs_token(role=["auditor", "writer"], aud=None, iss=None))
        assert (await remote.post("/mcp/", json=ensure_project(), headers=writer)).status_code == 200
    assert [row for row in row_counts().items() if row[0] == "projects"] == [("projects", 1)]


async def test_default_role_and_unknown_roles(make_app):
    app = make_app(**JWT_ENV)
    async with serving(app) as client:
        remote = client(REMOTE)
        no_claim = bearer(hs_token(aud=None, iss=None))
        assert (await remote.post("/mcp/", json=health(), headers=no_claim)).status_code == 200
        assert_refused(await remote.post("/mcp/", json=ensure_project(), headers=no_claim), 403, "FORBIDDEN")
        stranger = bearer(hs_token(role="auditor", aud=None, iss=None))
        assert_refused(await remote.post("/mcp/", json=rpc("tools/list"), headers=stranger), 403, "FORBIDDEN")

    app = make_app(**JWT_ENV, HTTP_RBAC_DEFAULT_ROLE="writer")
    async with serving(app) as client:
        response = await client(REMOTE).post("/mcp/", json=ensure_project(), headers=bearer(hs_token(aud=None)))
        assert response.status_code == 200, response.text


async def test_rbac_off_lets_any_authenticated_caller_write(make_app):
    app = make_app(**JWT_ENV, HTTP_RBAC_ENABLED="false")
    async with serving(app) as client:
        response = await client(REMOTE).post("/mcp/", json=ensure_project(), headers=reader())
        assert response.status_code == 200, response.text


def _server_with_annotated_tools(calls: list[str]) -> FastMCP:
    server = FastMCP("annotated")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def peek() -> dict[str, Any]:
        """Look without touching."""
        calls.append("peek")
        return {"ok": True}

    @server.tool(annotations=ToolAnnotations(read_only_hint=False))
    async def health_check() -> dict[str, Any]:
        """A tool that shares a read-only name elsewhere but changes state here."""
        calls.append("health_check")
        return {"ok": True}

    @server.tool
    async def unannotated() -> dict[str, Any]:
        """No annotations: treated as changing state."""
        calls.append("unannotated")
        return {"ok": True}

    return server


async def test_read_only_is_decided_by_the_servers_annotations(make_app):
    calls: list[str] = []
    app = make_app(_server_with_annotated_tools(calls), **JWT_ENV)
    async with serving(app) as client:
        remote = client(REMOTE)
        assert (await remote.post("/mcp/", json=tool_call("peek"), headers=reader())).status_code == 200
        for name in ("health_check", "unannotated", "no_such_tool"):
            assert_refused(await remote.post("/mcp/", json=tool_call(name), headers=reader()), 403, "FORBIDDEN")
    assert calls == ["peek"]
