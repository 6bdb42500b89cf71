"""Counting tool calls, whichever transport carries them, in :mod:`mcp_agent_mail.services.metrics`.

The MCP server counts calls with the :class:`ToolCallMetrics` middleware; the HTTP
direct ``tools/call`` route, which bypasses the middleware chain, calls
:func:`record_tool_call` itself, so both count a call the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from mcp_agent_mail.services import metrics

_AGENT_ARGS = ("agent_name", "sender_name", "from_agent", "name")


def record_tool_call(name: str, ok: bool, elapsed_ms: float, arguments: Mapping[str, Any]) -> None:
    """Record one tool call in the metrics, with the project and the agent its arguments named."""
    project = arguments.get("project_key") or arguments.get("human_key")
    agent = next((arguments[k] for k in _AGENT_ARGS if isinstance(arguments.get(k), str)), None)
    metrics.record_call(name, ok, elapsed_ms, project if isinstance(project, str) else None, agent)


class ToolCallMetrics(Middleware):
    """Count every tool call an MCP server runs (success or failure)."""

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        """Time the call and record its outcome, the project and the agent it named."""
        params = context.message
        arguments = getattr(params, "arguments", None) or {}
        started = time.perf_counter()
        ok = False
        try:
            result = await call_next(context)
            ok = not getattr(result, "is_error", False)
            return result
        finally:
            record_tool_call(str(getattr(params, "name", "?")), ok, (time.perf_counter() - started) * 1000, arguments)


__all__ = ["ToolCallMetrics", "record_tool_call"]
