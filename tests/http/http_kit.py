"""Helpers for HTTP protection tests: JSON-RPC bodies, refusal checks, ASGI clients from chosen peers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette

import db_kit

LOCAL = ("127.0.0.1", 40001)
REMOTE = ("203.0.113.7", 40002)
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTECTION_ENV = (
    "HTTP_BEARER_TOKEN",
    "HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED",
    "HTTP_ALLOWED_ORIGINS",
    "HTTP_CORS_ENABLED",
    "HTTP_CORS_ORIGINS",
    "HTTP_JWT_ENABLED",
    "HTTP_JWT_ALGORITHMS",
    "HTTP_JWT_SECRET",
    "HTTP_JWT_JWKS_URL",
    "HTTP_JWT_AUDIENCE",
    "HTTP_JWT_ISSUER",
    "HTTP_JWT_ROLE_CLAIM",
    "HTTP_RBAC_ENABLED",
    "HTTP_RBAC_READER_ROLES",
    "HTTP_RBAC_WRITER_ROLES",
    "HTTP_RBAC_DEFAULT_ROLE",
    "HTTP_RATE_LIMIT_ENABLED",
    "HTTP_RATE_LIMIT_BACKEND",
    "HTTP_RATE_LIMIT_PER_MINUTE",
    "HTTP_RATE_LIMIT_TOOLS_PER_MINUTE",
    "HTTP_RATE_LIMIT_TOOLS_BURST",
    "HTTP_RATE_LIMIT_REDIS_URL",
    "REDIS_URL",
)


def rpc(method: str, params: dict[str, Any] | None = None, ident: int = 1) -> dict[str, Any]:
    """Return one JSON-RPC request object."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    return message


def tool_call(name: str, arguments: dict[str, Any] | None = None, ident: int = 1) -> dict[str, Any]:
    """Return a JSON-RPC ``tools/call`` request."""
    return rpc("tools/call", {"name": name, "arguments": arguments or {}}, ident)


def ensure_project(key: str = "/work/http-protect", ident: int = 1) -> dict[str, Any]:
    """Return a state-changing call: create the project ``key``."""
    return tool_call("ensure_project", {"human_key": key}, ident)


def health() -> dict[str, Any]:
    """Return a read-only call."""
    return tool_call("health_check")


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a refusal's status and ``{"detail": str, "error": {code, message, hint}}`` body; return the error."""
    assert response.status_code == status, response.text
    assert isinstance(response.json().get("detail"), str) and response.json()["detail"]
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["hint"]
    return dict(error)


def row_counts() -> dict[str, int]:
    """Return the row counts of the tables a tool call could change (empty when no database was created yet)."""
    if not db_kit.database_exists():
        return {}
    url = db_kit.current_url()
    tables = db_kit.table_names(url)
    names = ("projects", "agents", "messages", "message_recipients", "file_reservations")
    return {name: db_kit.count(name, url=url) for name in names if name in tables}


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Run the app's lifespan; yield a factory of ASGI clients connecting from a given peer address."""
    clients: list[httpx.AsyncClient] = []

    def client(peer: tuple[str, int] = LOCAL, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=peer)
        made = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765", headers=JSON_HEADERS, **kwargs)
        clients.append(made)
        return made

    async with app.router.lifespan_context(app):
        try:
            yield client
        finally:
            for made in clients:
                await made.aclose()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
