"""Codex CLI: ``[mcp_servers.<name>]`` tables in ``$CODEX_HOME/config.toml`` (``~/.codex``) or ``<project>/.codex/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_agent_mail.services.integrate.clients.base import Client, stdio_plain
from mcp_agent_mail.services.integrate.entry import HttpServer
from mcp_agent_mail.services.integrate.machine import Machine


def codex_home(machine: Machine) -> Path:
    """Return Codex CLI's settings folder: ``$CODEX_HOME``, else ``~/.codex``."""
    configured = machine.environ.get("CODEX_HOME", "").strip()
    return Path(configured).expanduser() if configured else machine.home / ".codex"


def _http(server: HttpServer) -> dict[str, Any]:
    return {"url": server.url, "http_headers": server.headers}


CLIENT = Client(
    name="codex",
    label="Codex CLI",
    aliases=("codex-cli",),
    markers=lambda m: (codex_home(m),),
    executables=("codex",),
    user_file=lambda m: codex_home(m) / "config.toml",
    project_file=lambda project: project / ".codex" / "config.toml",
    syntax="toml",
    stdio_entry=stdio_plain,
    http_entry=_http,
    container=lambda _document: ("mcp_servers",),
)
