"""Cline (VS Code extension): ``mcpServers`` in ``cline_mcp_settings.json`` in its VS Code global storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_agent_mail.services.integrate.clients.base import Client, stdio_plain
from mcp_agent_mail.services.integrate.entry import HttpServer
from mcp_agent_mail.services.integrate.machine import Machine


def _storage(machine: Machine) -> Path:
    return machine.app_config_dir("Code") / "User" / "globalStorage" / "saoudrizwan.claude-dev"


def _http(server: HttpServer) -> dict[str, Any]:
    return {"type": "streamableHttp", "url": server.url, "headers": server.headers}


CLIENT = Client(
    name="cline",
    label="Cline",
    markers=lambda m: (_storage(m),),
    executables=(),
    user_file=lambda m: _storage(m) / "settings" / "cline_mcp_settings.json",
    project_file=None,
    syntax="json",
    stdio_entry=stdio_plain,
    http_entry=_http,
)
