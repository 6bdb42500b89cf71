"""Answer a coded 503 instead of crashing when the MCP endpoint is used without the app's lifespan having run.

Clients often mount the ASGI app in tests without starting its lifespan (``httpx.ASGITransport``
does not send lifespan events). Single ``tools/call`` requests are still answered by the direct
route in front of this guard; every other MCP request needs the MCP SDK's session manager, which
only the lifespan starts, so it is refused here with a hint instead of an unhandled exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.http.error_body import error_response

_FLAG = "lifespan_running"


def marking_lifespan(lifespan: Any, state: State) -> Any:
    """Wrap an app lifespan so that ``state`` records whether it is running."""

    @contextlib.asynccontextmanager
    async def marked(app: Any) -> AsyncIterator[Any]:
        async with lifespan(app) as value:
            setattr(state, _FLAG, True)
            try:
                yield value
            finally:
                setattr(state, _FLAG, False)

    return marked


def not_started_error() -> UnavailableError:
    """Return the refusal for an MCP request that needs the lifespan that never ran."""
    return UnavailableError(
        "The MCP endpoint was called, but this app's lifespan has not run, so the MCP session manager is not "
        "started; only single tools/call requests are answered without it.",
        hint="Run the app's lifespan before sending requests: `async with app.router.lifespan_context(app):` "
        "around the client (httpx.ASGITransport does not run it), or pass the app's lifespan to the parent app "
        "that mounts it; `mcp-agent-mail serve` does this for you.",
    )


class LifespanGuard:
    """ASGI middleware: refuse MCP endpoint requests with 503 UNAVAILABLE while the app's lifespan is not running."""

    def __init__(self, app: ASGIApp, *, state: State, mcp_paths: frozenset[str]) -> None:
        self.app = app
        self.state = state
        self.mcp_paths = mcp_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 503 when it needs the lifespan that has not run."""
        if scope["type"] == "http" and scope["path"] in self.mcp_paths and not getattr(self.state, _FLAG, False):
            await error_response(not_started_error())(scope, receive, send)
            return
        await self.app(scope, receive, send)
