"""Cursor: ``mcpServers`` in ``~/.cursor/mcp.json``, or ``<project>/.cursor/mcp.json``."""

from __future__ import annotations

from mcp_agent_mail.services.integrate.clients.base import Client, http_url, stdio_plain

CLIENT = Client(
    name="cursor",
    label="Cursor",
    markers=lambda m: (m.home / ".cursor",),
    executables=("cursor", "cursor-agent"),
    user_file=lambda m: m.home / ".cursor" / "mcp.json",
    project_file=lambda project: project / ".cursor" / "mcp.json",
    syntax="jsonc",
    stdio_entry=stdio_plain,
    http_entry=http_url,
)
