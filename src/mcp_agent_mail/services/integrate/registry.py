"""Every coding agent ``integrate`` knows, and lookup by name or alias."""

from __future__ import annotations

from collections.abc import Iterable

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.integrate.clients import (
    claude_code,
    cline,
    codex,
    cursor,
    factory_droid,
    gemini,
    opencode,
    vscode,
    windsurf,
)
from mcp_agent_mail.services.integrate.clients.base import Client

CLIENTS: tuple[Client, ...] = tuple(
    module.CLIENT for module in (claude_code, codex, cursor, gemini, cline, windsurf, opencode, vscode, factory_droid)
)


def client_names() -> list[str]:
    """Return the canonical names of the known clients, in display order."""
    return [client.name for client in CLIENTS]


def find_client(name: str) -> Client:
    """Return the client called ``name`` (or one of its aliases); raise InvalidArgumentError when unknown."""
    wanted = name.strip().lower().replace("_", "-")
    for client in CLIENTS:
        if wanted == client.name or wanted in client.aliases:
            return client
    raise InvalidArgumentError(
        f"Unknown client {name!r}.",
        hint=f"Name one of: {', '.join(client_names())}.",
    )


def select(names: Iterable[str]) -> list[Client]:
    """Return the named clients without repeats (every known client when ``names`` is empty)."""
    chosen: dict[str, Client] = {}
    for name in names:
        client = find_client(name)
        chosen.setdefault(client.name, client)
    return list(chosen.values()) if chosen else list(CLIENTS)
