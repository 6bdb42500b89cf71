"""Claude Code: user servers in ``~/.claude.json`` (``mcpServers``), project servers in ``<project>/.mcp.json``."""

from __future__ import annotations

from mcp_agent_mail.services.integrate.clients.base import Client, http_typed, stdio_typed

CLIENT = Client(
    name="claude-code",
    label="Claude Code",
    aliases=("claude",),
    markers=lambda m: (m.home / ".claude", m.home / ".claude.json"),
    executables=("claude",),
    user_file=lambda m: m.home / ".claude.json",
    project_file=lambda project: project / ".mcp.json",
    syntax="json",
    stdio_entry=stdio_typed,
    http_entry=http_typed,
)
