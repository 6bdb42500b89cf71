"""Factory Droid: ``mcpServers`` in ``~/.factory/mcp.json`` or ``<project>/.factory/mcp.json``."""

from __future__ import annotations

from mcp_agent_mail.services.integrate.clients.base import Client, http_typed, stdio_typed

CLIENT = Client(
    name="factory-droid",
    label="Factory Droid",
    aliases=("droid", "factory"),
    markers=lambda m: (m.home / ".factory",),
    executables=("droid",),
    user_file=lambda m: m.home / ".factory" / "mcp.json",
    project_file=lambda project: project / ".factory" / "mcp.json",
    syntax="json",
    stdio_entry=stdio_typed,
    http_entry=http_typed,
)
