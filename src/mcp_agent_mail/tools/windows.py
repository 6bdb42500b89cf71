"""Window identity tools: list_window_identities, rename_window, expire_window."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail.services.identity import windows
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.params import ProjectKey


def register(mcp: FastMCP) -> None:
    """Add the window identity tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=True, idempotent=True, listing=True, output=out.WINDOWS)
    async def list_window_identities(project_key: ProjectKey) -> list[dict[str, Any]]:
        """List the live window identities (the name each window registers as)."""
        return await windows.list_window_identities(project_key)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True, output=out.WINDOW_RENAME)
    async def rename_window(project_key: ProjectKey, window_uuid: str, new_display_name: str) -> dict[str, Any]:
        """Give a window a new Adjective+Noun name for its next registration; agents keep theirs."""
        return await windows.rename_window(project_key, window_uuid, new_display_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=False, project_admin=True, output=out.WINDOW_EXPIRE)
    async def expire_window(project_key: ProjectKey, window_uuid: str) -> dict[str, Any]:
        """End a window's identity; its next registration gets a fresh name."""
        return await windows.expire_window(project_key, window_uuid)
