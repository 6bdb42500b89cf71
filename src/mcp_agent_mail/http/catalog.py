"""The MCP server's tools by name, for the checks and routes that run before the MCP SDK sees a request."""

from __future__ import annotations

import time

from fastmcp import FastMCP
from fastmcp.tools.base import Tool

_RELOAD_AFTER_S = 5.0


class ToolCatalog:
    """The server's tools by name (whether each is annotated read-only, the tool itself), looked up once."""

    def __init__(self, server: FastMCP) -> None:
        self.server = server
        self._tools: dict[str, Tool] | None = None
        self._loaded_at = 0.0

    async def tool(self, name: str) -> Tool | None:
        """Return the tool of this name (re-reading the list at most every few seconds for unknown names)."""
        now = time.monotonic()
        stale = self._tools is not None and name not in self._tools and now - self._loaded_at > _RELOAD_AFTER_S
        if self._tools is None or stale:
            self._tools = {tool.name: tool for tool in await self.server.list_tools()}
            self._loaded_at = now
        return self._tools.get(name)

    async def known(self, name: str) -> bool:
        """Return True when the server has a tool of this name."""
        return await self.tool(name) is not None

    async def is_read_only(self, name: str) -> bool:
        """Return True only for a registered tool whose annotations say readOnlyHint=true."""
        tool = await self.tool(name)
        return bool(tool is not None and tool.annotations is not None and tool.annotations.read_only_hint)


__all__ = ["ToolCatalog"]
