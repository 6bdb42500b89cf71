"""The description of one coding agent: where it is installed, which file holds its MCP servers, and their shape.

Each client is one module of this package defining ``CLIENT``; adding a client
is adding a module and naming it in :mod:`..registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcp_agent_mail.services.integrate.entry import HttpServer, Server, StdioServer
from mcp_agent_mail.services.integrate.machine import Machine

Syntax = Literal["json", "jsonc", "toml"]


def mcp_servers(_document: Any) -> tuple[str, ...]:
    """The usual place of the servers object: a top-level ``mcpServers``."""
    return ("mcpServers",)


@dataclass(frozen=True, slots=True)
class Client:
    """One coding agent and the shape of its MCP configuration."""

    name: str
    label: str
    markers: Callable[[Machine], tuple[Path, ...]]
    executables: tuple[str, ...]
    user_file: Callable[[Machine], Path]
    project_file: Callable[[Path], Path] | None
    syntax: Syntax
    stdio_entry: Callable[[StdioServer], dict[str, Any]]
    http_entry: Callable[[HttpServer], dict[str, Any]]
    container: Callable[[Any], tuple[str, ...]] = mcp_servers
    aliases: tuple[str, ...] = ()

    def entry(self, server: Server) -> dict[str, Any]:
        """Return this client's configuration entry for ``server``."""
        return self.stdio_entry(server) if isinstance(server, StdioServer) else self.http_entry(server)

    @property
    def owned_keys(self) -> frozenset[str]:
        """The keys an entry of either transport may hold; others in an existing entry are the user's and stay."""
        stdio = self.stdio_entry(StdioServer("x", ("stdio",), {"K": "v"}))
        http = self.http_entry(HttpServer("http://127.0.0.1/", "t"))
        return frozenset(stdio) | frozenset(http)

    @property
    def allows_comments(self) -> bool:
        """Whether the client reads JSON with comments and trailing commas."""
        return self.syntax == "jsonc"

    def config_file(self, machine: Machine, project: Path | None) -> Path:
        """Return the file to edit: the project's when asked for one and the client has one, else the user's."""
        if project is not None and self.project_file is not None:
            return self.project_file(project)
        return self.user_file(machine)


def stdio_plain(server: StdioServer) -> dict[str, Any]:
    """``{"command", "args", "env"}``: the shape most clients share."""
    return {"command": server.command, "args": list(server.args), "env": dict(server.env)}


def stdio_typed(server: StdioServer) -> dict[str, Any]:
    """``{"type": "stdio", "command", "args", "env"}``."""
    return {"type": "stdio", **stdio_plain(server)}


def http_typed(server: HttpServer) -> dict[str, Any]:
    """``{"type": "http", "url", "headers"}``."""
    return {"type": "http", "url": server.url, "headers": server.headers}


def http_url(server: HttpServer) -> dict[str, Any]:
    """``{"url", "headers"}``."""
    return {"url": server.url, "headers": server.headers}
