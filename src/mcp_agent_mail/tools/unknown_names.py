"""Coded errors for requests naming a tool or resource the server does not have, or naming one in invalid Unicode.

fastmcp answers an unknown tool with ``Unknown tool: 'x'`` and an unknown
resource with ``Resource not found``. :class:`UnknownNames` turns both into
``NOT_FOUND: ... Hint: ...`` with the closest names, and gives resource errors a
client caused the JSON-RPC code for invalid parameters instead of an internal error.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import DisabledError, NotFoundError, ResourceError, ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp import MCPError
from mcp_types import INVALID_PARAMS

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.errors import NotFoundError as MailNotFoundError
from mcp_agent_mail.text_guard import find_invalid_text, invalid_text_error
from mcp_agent_mail.tools._adapter import registered_tools

logger = logging.getLogger("mcp_agent_mail.tools")
_SHOWN = 2  # close names a hint offers


def _closest(name: str, candidates: dict[str, str]) -> str:
    """Return `` Did you mean 'x'?`` for the candidates (key: what to compare, value: what to show) near ``name``.

    At most two are named; "…" ends the list when more were close.
    """
    matches = difflib.get_close_matches(name, list(candidates), n=_SHOWN + 1, cutoff=0.6)
    shown = [repr(candidates[match]) for match in matches[:_SHOWN]] + (["…"] if len(matches) > _SHOWN else [])
    return f" Did you mean {' or '.join(shown)}?" if matches else ""


def _resource_path(uri: str) -> str:
    """Return the part of a resource URI worth comparing: without scheme, query and trailing slash."""
    return uri.split("://", 1)[-1].split("?", 1)[0].rstrip("/")


def _tools(count: int) -> str:
    return "1 tool" if count == 1 else f"{count} tools"


class UnknownNames(Middleware):
    """Answer a call of an unknown tool, or a read of an unknown resource, with NOT_FOUND and a hint."""

    def __init__(self, server: FastMCP) -> None:
        self.server = server

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        """Run the call; an unknown (or invalidly spelt) tool name becomes a coded tool error."""
        name = str(getattr(context.message, "name", ""))
        try:
            return await call_next(context)
        except (NotFoundError, DisabledError) as exc:
            raise ToolError(await self._unknown_tool(name), log_level=logging.INFO) from exc

    async def _unknown_tool(self, name: str) -> str:
        found = find_invalid_text(name, "the tool name")
        if found is not None:
            return invalid_text_error(found).render()
        listed = sorted(tool.name for tool in await self.server.list_tools())
        shown = repr(name[:100])
        if name in registered_tools(self.server):
            return MailNotFoundError(
                f"tool {shown} is not enabled on this server.",
                hint="The server's tool profile leaves it out; start it with --tools full (or TOOLS_PROFILE=full), "
                "or name the tool in --tools.",
            ).render()
        return MailNotFoundError(
            f"no tool named {shown}.",
            hint=f"tools/list shows the {_tools(len(listed))} of this server.{_closest(name, {n: n for n in listed})}",
        ).render()

    async def on_read_resource(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        """Read the resource; an unknown URI becomes NOT_FOUND, a client's mistake an invalid-params error."""
        uri = str(getattr(context.message, "uri", ""))
        found = find_invalid_text(uri, "the resource URI")
        if found is not None:
            raise MCPError(code=INVALID_PARAMS, message=invalid_text_error(found).render())
        try:
            return await call_next(context)
        except (NotFoundError, DisabledError) as exc:
            raise MCPError(code=INVALID_PARAMS, message=await self._unknown_resource(uri), data={"uri": uri}) from exc
        except ResourceError as exc:
            cause = exc.__cause__
            if isinstance(cause, AgentMailError) and cause.http_status < 500:
                raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc
            raise

    async def _unknown_resource(self, uri: str) -> str:
        resources = await self.server.list_resources()
        known = {_resource_path(str(resource.uri)): str(resource.uri) for resource in resources}
        for template in await self.server.list_resource_templates():
            known.setdefault(_resource_path(template.uri_template.split("{", 1)[0]), template.uri_template)
        guesses = _closest(_resource_path(uri), known)
        return MailNotFoundError(
            f"no resource at {uri[:200]!r}.",
            hint=f"resources/list and resources/templates/list show the resources of this server.{guesses}",
        ).render()


__all__ = ["UnknownNames"]
