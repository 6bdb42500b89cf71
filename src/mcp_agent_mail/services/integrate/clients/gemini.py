"""Gemini CLI: ``mcpServers`` in ``~/.gemini/settings.json`` or ``<project>/.gemini/settings.json``.

Streamable HTTP servers go under ``httpUrl`` (``url`` means the older SSE transport there).
"""

from __future__ import annotations

from typing import Any

from mcp_agent_mail.services.integrate.clients.base import Client, stdio_plain
from mcp_agent_mail.services.integrate.entry import HttpServer


def _http(server: HttpServer) -> dict[str, Any]:
    return {"httpUrl": server.url, "headers": server.headers}


CLIENT = Client(
    name="gemini",
    label="Gemini CLI",
    aliases=("gemini-cli",),
    markers=lambda m: (m.home / ".gemini",),
    executables=("gemini",),
    user_file=lambda m: m.home / ".gemini" / "settings.json",
    project_file=lambda project: project / ".gemini" / "settings.json",
    syntax="jsonc",
    stdio_entry=stdio_plain,
    http_entry=_http,
)
