"""Windsurf: ``mcpServers`` in ``~/.codeium/windsurf/mcp_config.json``; remote servers under ``serverUrl``."""

from __future__ import annotations

from typing import Any

from mcp_agent_mail.services.integrate.clients.base import Client, stdio_plain
from mcp_agent_mail.services.integrate.entry import HttpServer


def _http(server: HttpServer) -> dict[str, Any]:
    return {"serverUrl": server.url, "headers": server.headers}


CLIENT = Client(
    name="windsurf",
    label="Windsurf",
    markers=lambda m: (m.home / ".codeium" / "windsurf",),
    executables=("windsurf",),
    user_file=lambda m: m.home / ".codeium" / "windsurf" / "mcp_config.json",
    project_file=None,
    syntax="json",
    stdio_entry=stdio_plain,
    http_entry=_http,
)
