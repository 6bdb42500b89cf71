"""The HTTP transport: an ASGI app serving MCP over Streamable HTTP plus health probes.

The MCP endpoint answers at ``HTTP_PATH`` (default ``/mcp/``) and at the other
of ``/mcp/`` and ``/api/``, so clients configured for either keep working. The
app's lifespan is the MCP server's lifespan: it runs the archive writer, and
its exit (on SIGTERM/SIGINT under uvicorn) flushes the archive queue.
"""

from __future__ import annotations

import logging
from typing import Any

from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.services.health import health_check

logger = logging.getLogger("mcp_agent_mail.http")

MCP_PATH_ALIASES = ("/mcp/", "/api/")


async def liveness(_request: Request) -> JSONResponse:
    """Answer 200 while the process serves requests."""
    return JSONResponse({"status": "alive"})


async def readiness(_request: Request) -> JSONResponse:
    """Answer 200 when the database answers, 503 otherwise; include the archive backlog."""
    report = await health_check()
    ready = report.get("database") == "ok"
    body: dict[str, Any] = {
        "status": "ready" if ready else "unavailable",
        "database": report.get("database"),
        "version": report.get("version"),
    }
    if "archive_pending" in report:
        body["archive_pending"] = report["archive_pending"]
    if not ready:
        body["code"] = "UNAVAILABLE"
        body["hint"] = "Check DATABASE_URL and that the database file is readable and writable."
    return JSONResponse(body, status_code=200 if ready else 503)


def _mcp_paths(primary: str) -> list[str]:
    """Return every path the MCP endpoint answers at, the configured one first."""
    paths = [primary]
    for alias in MCP_PATH_ALIASES:
        if alias not in paths:
            paths.append(alias)
    # Also answer without the trailing slash instead of redirecting (some clients drop the body on 307).
    for path in list(paths):
        bare = path.rstrip("/")
        if bare and bare not in paths:
            paths.append(bare)
    return paths


def _find_route(routes: list[BaseRoute], path: str) -> Route:
    for route in routes:
        if isinstance(route, Route) and route.path == path:
            return route
    raise RuntimeError(f"MCP endpoint {path} missing from the HTTP app")


def build_http_app(
    settings: Settings | None = None,
    server: FastMCP | None = None,
    *,
    stateless: bool = True,
    json_response: bool = True,
) -> Starlette:
    """Return the ASGI app: MCP at the configured path (and its alias), ``/health/liveness``, ``/health/readiness``.

    By default every request is self-contained (stateless, plain JSON answers), so
    a client may call ``tools/call`` without a session and several workers can
    serve one mailbox.
    """
    settings = settings or get_settings()
    if server is None:
        from mcp_agent_mail.app import build_mcp_server

        server = build_mcp_server()
    primary = settings.http.path
    app = server.http_app(
        path=primary,
        transport="http",
        json_response=json_response,
        stateless_http=stateless,
    )
    endpoint = _find_route(app.router.routes, primary)
    for path in _mcp_paths(primary)[1:]:
        app.router.routes.append(Route(path, endpoint=endpoint.endpoint, methods=endpoint.methods))
    app.router.routes.append(Route("/health/liveness", liveness, methods=["GET"]))
    app.router.routes.append(Route("/health/readiness", readiness, methods=["GET"]))
    app.state.mcp_paths = _mcp_paths(primary)
    return app


__all__ = ["build_http_app", "liveness", "readiness"]
