"""The HTTP transport: an ASGI app serving MCP over Streamable HTTP plus health probes.

The MCP endpoint answers at ``HTTP_PATH`` (default ``/mcp/``) and at the other
of ``/mcp/`` and ``/api/``, so clients configured for either keep working. The
app's lifespan is the MCP server's lifespan: it runs the archive writer, and
its exit (on SIGTERM/SIGINT under uvicorn) flushes the archive queue.

Every request except the two health probes passes :class:`AccessControl` first:
``Origin`` allow-list, authentication (:mod:`mcp_agent_mail.access.auth`), roles
(``tools/call`` of a tool not annotated read-only needs the writer role; every
element of a JSON-RPC batch is checked) and rate limits
(:mod:`mcp_agent_mail.http.ratelimit`). A refused request never reaches a tool; it is
answered 401/403/429 with ``{"detail": "...", "error": {"code", "message", "hint"}}``
(``detail`` is the fixed phrase clients of the original server read, e.g. ``Unauthorized``).

With no authentication configured the server only answers direct loopback
requests and refuses to listen on any other interface.

The web UI for people is mounted at ``/mail`` (:mod:`mcp_agent_mail.web`); it applies the
same rules itself, adding a sign-in session cookie and CSRF tokens for browsers.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_agent_mail.access.auth import Authenticator, Principal, forbid_no_role, forbid_writer_call
from mcp_agent_mail.access.origins import OriginPolicy, cors_options, cors_origins, header
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import HttpSettings, Settings, get_settings
from mcp_agent_mail.errors import AgentMailError, ForbiddenError, RateLimitedError
from mcp_agent_mail.http.body_limit import MAX_BODY_BYTES, BodyLimit, invalid_text_reply
from mcp_agent_mail.http.catalog import ToolCatalog
from mcp_agent_mail.http.error_body import detail_for, error_response
from mcp_agent_mail.http.lifespan_guard import LifespanGuard, marking_lifespan
from mcp_agent_mail.http.ratelimit import Limit, RateLimiter, build_rate_limiter
from mcp_agent_mail.http.tool_route import ToolCallFastPath
from mcp_agent_mail.services.health import health_check
from mcp_agent_mail.web.app import build_web_app

logger = logging.getLogger("mcp_agent_mail.http")

MCP_PATH_ALIASES = ("/mcp/", "/api/")
OPEN_PATHS = frozenset({"/health/liveness", "/health/readiness"})
WEB_PREFIX = "/mail"  # the web UI checks its own callers (sign-in cookie, CSRF): mcp_agent_mail.web.security
UNKNOWN_TOOL = "?"


async def liveness(_request: Request) -> JSONResponse:
    """Answer 200 while the process serves requests."""
    return JSONResponse({"status": "alive"})


async def readiness(_request: Request) -> JSONResponse:
    """Answer 200 when the database answers, 503 otherwise; include the archive backlog and failed changes."""
    report = await health_check()
    ready = report.get("database") == "ok"
    body: dict[str, Any] = {
        "status": "ready" if ready else "unavailable",
        "database": report.get("database"),
        "version": report.get("version"),
    }
    for key in ("archive_pending", "archive_failed"):  # counts only: this probe needs no credentials
        if key in report:
            body[key] = report[key]
    if not ready:
        body["detail"] = detail_for(503, "database unavailable")
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


@dataclass(frozen=True, slots=True)
class RpcCall:
    """One JSON-RPC request of a POST body: its method and, for ``tools/call``, the tool name."""

    method: str | None
    tool: str | None = None


_NOT_JSON = object()


def decode_body(body: bytes) -> Any:
    """Return the decoded JSON of a POST body, or a sentinel when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _NOT_JSON


def rpc_calls(document: Any) -> list[RpcCall] | None:
    """Return the JSON-RPC requests in a decoded body (a single object or a batch), or None if it is not JSON-RPC."""
    if document is _NOT_JSON:
        return None
    items = document if isinstance(document, list) else [document]
    calls: list[RpcCall] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        method = item.get("method")
        if method is not None and not isinstance(method, str):
            return None
        tool = None
        if method == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            tool = name if isinstance(name, str) else UNKNOWN_TOOL
        calls.append(RpcCall(method, tool))
    return calls


def _refusal(error: AgentMailError, headers: dict[str, str] | None = None) -> JSONResponse:
    """Render a refusal as its HTTP status and ``{"detail": ..., "error": {code, message, hint}}``."""
    return error_response(error, headers)


class _Refused(Exception):
    def __init__(self, error: AgentMailError, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = headers


class AccessControl:
    """ASGI middleware: Origin check, authentication, roles and rate limits before any route runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        http: HttpSettings,
        authenticator: Authenticator,
        catalog: ToolCatalog,
        limiter: RateLimiter | None,
        mcp_paths: frozenset[str],
        fast_path: ToolCallFastPath | None = None,
    ) -> None:
        self.app = app
        self.fast_path = fast_path
        self.http = http
        self.authenticator = authenticator
        self.catalog = catalog
        self.limiter = limiter
        self.mcp_paths = mcp_paths
        self.origins = OriginPolicy.from_settings(http)
        self.tool_limit = Limit(http.rate_limit.tools_per_minute, http.rate_limit.tools_burst)
        self.other_limit = Limit(http.rate_limit.per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through to the app, or answer it with a refusal."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or _is_web(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._admit(scope)
            body: bytes | None = None
            document: Any = _NOT_JSON
            calls: list[RpcCall] | None = None
            if scope["method"] == "POST" and scope["path"] in self.mcp_paths:
                body = await _read_body(receive)
                if body is None:
                    return
                document = decode_body(body)
                calls = rpc_calls(document)
            await self._authorise(scope, principal, calls)
            await self._limit(principal, scope, calls)
        except _Refused as refused:
            _log_refusal(scope, refused.error)
            await _refusal(refused.error, refused.headers)(scope, receive, send)
            return
        if body is not None and (invalid := invalid_text_reply(body, document)) is not None:
            await invalid(scope, receive, send)
            return
        if body is not None and self.fast_path is not None:
            call = await self.fast_path.match(scope, body, document)
            if call is not None:
                await self.fast_path.answer(call, send)
                return
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)

    async def _admit(self, scope: Scope) -> Principal:
        origin = header(scope, b"origin")
        if not self.origins.allows(origin):
            raise _Refused(
                ForbiddenError(
                    f"Origin {origin!r} is not allowed to call this server.",
                    hint="Add the page's origin to HTTP_ALLOWED_ORIGINS (and HTTP_CORS_ORIGINS for browsers), "
                    "or call from a non-browser client.",
                )
            )
        try:
            principal = await self.authenticator.authenticate(scope)
        except AgentMailError as exc:
            headers = None
            if exc.http_status == 401:
                headers = {"WWW-Authenticate": _www_authenticate(exc, scope)}
            raise _Refused(exc, headers) from exc
        if principal.method == "local" and not self.origins.local_host_allowed(header(scope, b"host")):
            raise _Refused(
                ForbiddenError(
                    f"Host {header(scope, b'host')!r} does not name this machine.",
                    hint=(
                        "Connect to http://127.0.0.1:<port>/ or http://localhost:<port>/, or configure authentication."
                    ),
                )
            )
        return principal

    async def _authorise(self, scope: Scope, principal: Principal, calls: list[RpcCall] | None) -> None:
        if not self.http.rbac.enabled or principal.is_writer:
            return
        if not principal.roles:
            raise _Refused(forbid_no_role(principal))
        if scope["path"] not in self.mcp_paths:
            if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                raise _Refused(forbid_writer_call(principal, f"{scope['method']} {scope['path']}"))
            return
        if scope["method"] != "POST":
            return
        if calls is None:
            raise _Refused(forbid_writer_call(principal, "A request body that is not JSON-RPC"))
        for call in calls:
            if call.method == "tools/call" and not await self.catalog.is_read_only(call.tool or UNKNOWN_TOOL):
                raise _Refused(forbid_writer_call(principal, f"Calling tool {call.tool!r}"))

    async def _limit(self, principal: Principal, scope: Scope, calls: list[RpcCall] | None) -> None:
        if self.limiter is None:
            return
        keys: list[tuple[str, Limit, str]] = []
        other = calls is None or any(call.method != "tools/call" for call in calls)
        for call in calls or []:
            if call.method == "tools/call":
                name = call.tool if call.tool and await self.catalog.known(call.tool) else UNKNOWN_TOOL
                keys.append((f"tool:{name}:{principal.identity}", self.tool_limit, f"tool {name!r}"))
        if other:
            keys.append((f"other:{principal.identity}", self.other_limit, "requests"))
        for key, limit, what in keys:
            decision = await self.limiter.take(key, limit)
            if not decision.allowed:
                error = RateLimitedError(
                    f"Rate limit for {what} exceeded by {principal.identity}; retry in {decision.retry_after} s.",
                    hint="Wait for the number of seconds in Retry-After, and spread calls out over time.",
                    data={"retry_after": decision.retry_after},
                )
                raise _Refused(error, {"Retry-After": str(decision.retry_after)})


def _is_web(path: str) -> bool:
    return path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/")


def _www_authenticate(error: AgentMailError, scope: Scope) -> str:
    if header(scope, b"authorization") is None:
        return 'Bearer realm="mcp-agent-mail"'
    description = error.message.replace("\\", "").replace('"', "'")
    return f'Bearer realm="mcp-agent-mail", error="invalid_token", error_description="{description}"'


def _log_refusal(scope: Scope, error: AgentMailError) -> None:
    client = scope.get("client")
    logger.info(
        "refused %s %s from %s: %d %s %s",
        scope.get("method"),
        scope.get("path"),
        client[0] if client else "?",
        error.http_status,
        error.code,
        error.message,
    )


async def _read_body(receive: Receive) -> bytes | None:
    """Return the whole request body, or None when the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Return a ``receive`` that yields the already-read body once, then defers to the real one."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _closing(lifespan: Any, limiter: RateLimiter) -> Any:
    """Wrap an app lifespan so that the rate limiter's connections close at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan_with_limiter(app: Any) -> AsyncIterator[Any]:
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            await limiter.aclose()

    return lifespan_with_limiter


def build_http_app(
    settings: Settings | None = None,
    server: FastMCP | None = None,
    *,
    stateless: bool = True,
    json_response: bool = True,
    fast_path: bool = True,
) -> Starlette:
    """Return the ASGI app: MCP at the configured path (and its alias), ``/health/liveness``, ``/health/readiness``.

    By default every request is self-contained (stateless, plain JSON answers), so
    a client may call ``tools/call`` without a session and several workers can
    serve one mailbox. Then single ``tools/call`` requests take the direct route of
    :mod:`mcp_agent_mail.http.tool_route` (``fast_path=False`` sends everything through
    the MCP SDK, for comparison).
    """
    settings = settings or get_settings()
    authenticator = Authenticator(settings.http)
    authenticator.check_exposure()
    origins_for_cors = cors_origins(settings.http)
    limiter = build_rate_limiter(settings.http.rate_limit)
    if server is None:
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
    app.router.routes.append(Mount(WEB_PREFIX, app=build_web_app(settings, authenticator)))
    app.state.mcp_paths = _mcp_paths(primary)
    app.state.authenticator = authenticator
    app.state.rate_limiter = limiter
    catalog = ToolCatalog(server)
    app.state.fast_path = ToolCallFastPath(server, catalog) if fast_path and stateless and json_response else None
    app.add_middleware(LifespanGuard, state=app.state, mcp_paths=frozenset(app.state.mcp_paths))
    app.add_middleware(
        AccessControl,
        http=settings.http,
        authenticator=authenticator,
        catalog=catalog,
        limiter=limiter,
        mcp_paths=frozenset(app.state.mcp_paths),
        fast_path=app.state.fast_path,
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    if origins_for_cors:
        app.add_middleware(CORSMiddleware, **cors_options(origins_for_cors))
    if limiter is not None:
        app.router.lifespan_context = _closing(app.router.lifespan_context, limiter)
    app.router.lifespan_context = marking_lifespan(app.router.lifespan_context, app.state)
    return app


__all__ = ["AccessControl", "build_http_app", "liveness", "readiness"]


def freeze_startup_heap() -> None:
    """Exclude everything alive after start-up (modules, tools, schemas) from the garbage collector's scans.

    A long-running server otherwise re-walks that whole heap in every full collection, which
    shows as pauses of several milliseconds under load.
    """
    gc.collect()
    gc.freeze()


def app_from_environment() -> Starlette:
    """Build the app from the process environment (the factory each ``serve --workers N`` process calls)."""
    app = build_http_app(get_settings())
    freeze_startup_heap()
    return app
