"""OpenCode: ``mcp`` in ``~/.config/opencode/opencode.json[c]`` or ``<project>/opencode.json[c]``.

A local server is ``{"type": "local", "command": [program, *args], "environment": {...}}``,
a remote one ``{"type": "remote", "url", "headers"}``. Newer files keep servers under
``mcp.servers``; when a file already does, the entry goes there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_agent_mail.services.integrate.clients.base import Client
from mcp_agent_mail.services.integrate.entry import HttpServer, StdioServer


def _file(folder: Path) -> Path:
    jsonc = folder / "opencode.jsonc"
    return jsonc if jsonc.exists() else folder / "opencode.json"


def _container(document: Any) -> tuple[str, ...]:
    mcp = document.get("mcp") if isinstance(document, dict) else None
    servers = mcp.get("servers") if isinstance(mcp, dict) else None
    if isinstance(servers, dict) and "type" not in servers:
        return ("mcp", "servers")
    return ("mcp",)


def _stdio(server: StdioServer) -> dict[str, Any]:
    return {"type": "local", "command": [server.command, *server.args], "environment": dict(server.env)}


def _http(server: HttpServer) -> dict[str, Any]:
    return {"type": "remote", "url": server.url, "headers": server.headers}


CLIENT = Client(
    name="opencode",
    label="OpenCode",
    markers=lambda m: (m.config_home / "opencode",),
    executables=("opencode",),
    user_file=lambda m: _file(m.config_home / "opencode"),
    project_file=_file,
    syntax="jsonc",
    stdio_entry=_stdio,
    http_entry=_http,
    container=_container,
)
