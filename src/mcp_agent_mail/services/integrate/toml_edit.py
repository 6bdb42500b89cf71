"""Add, update or remove one server table in a TOML file (Codex's ``config.toml``) with tomlkit.

tomlkit keeps every other table, key, comment and blank line as it was. The
new entry is a ``[<container>.<name>]`` table whose nested values are inline
tables (``env = { ... }``), the shape Codex documents.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import InlineTable, Table

from mcp_agent_mail.errors import AgentMailError, ConfigurationError
from mcp_agent_mail.services.integrate.json_edit import Edit, newline_of


def _inline(value: dict[str, Any]) -> InlineTable:
    table = tomlkit.inline_table()
    for key, item in value.items():
        table[key] = _inline(item) if isinstance(item, dict) else item
    return table


def _table(entry: dict[str, Any], *, inline: bool) -> Table | InlineTable:
    if inline:
        return _inline(entry)
    table = tomlkit.table()
    for key, item in entry.items():
        table[key] = _inline(item) if isinstance(item, dict) else item
    return table


def _parse(text: str, source: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigurationError(
            f"{source} is not valid TOML: {exc}.",
            hint="Fix the file (or move it aside), then run the command again; nothing was changed.",
        ) from exc


def _servers(doc: tomlkit.TOMLDocument, key: str, source: str, *, create: bool) -> Any:
    servers = doc.get(key)
    if servers is None:
        if not create:
            return None
        servers = tomlkit.table(is_super_table=True)
        doc.append(key, servers)
        return servers
    if not isinstance(servers, Table | InlineTable):
        raise ConfigurationError(
            f"{source}: '{key}' is not a table.",
            hint=f"Make '{key}' a table of servers (or remove it), then run the command again.",
        )
    return servers


def _same_newlines(original: str, edited: str) -> str:
    """Give lines that tomlkit added the line ending the rest of the file uses."""
    if newline_of(original) == "\r\n":
        return edited.replace("\r\n", "\n").replace("\n", "\r\n")
    return edited


def upsert(
    text: str | None, container: str, name: str, entry: dict[str, Any], *, source: str, owned_keys: frozenset[str]
) -> Edit:
    """Add ``entry`` as ``[<container>.<name>]`` to ``text`` (None or blank: a new file), or update it."""
    original = text or ""
    doc = _parse(original, source)
    created = () if container in doc else (container,)
    servers = _servers(doc, container, source, create=True)
    inline = isinstance(servers, InlineTable)
    existing = servers.get(name)
    if existing is None:
        status, wanted = "added", entry
    else:
        current = existing.unwrap() if hasattr(existing, "unwrap") else existing
        extras = (
            {k: v for k, v in current.items() if k not in owned_keys and k not in entry}
            if isinstance(current, dict)
            else {}
        )
        wanted = {**entry, **extras}
        if current == wanted:
            return Edit(original, "unchanged")
        status = "updated"
    table = _table(wanted, inline=inline)
    if not inline and existing is None:
        table.add(tomlkit.nl())
    servers[name] = table
    edited = tomlkit.dumps(doc)
    if edited.endswith("\n\n") and not original.endswith("\n\n"):
        edited = edited[:-1]
    edited = _same_newlines(original, edited)
    _check(edited, container, name, wanted, source)
    return Edit(edited, status, created)


def remove(text: str, container: str, name: str, *, source: str, created: tuple[str, ...] = ()) -> Edit:
    """Remove ``[<container>.<name>]`` from ``text``; drop an emptied container this tool created."""
    doc = _parse(text, source)
    servers = _servers(doc, container, source, create=False)
    if servers is None or name not in servers:
        return Edit(text, "absent")
    del servers[name]
    if created == (container,) and not servers:
        del doc[container]
    edited = _same_newlines(text, tomlkit.dumps(doc))
    nl = newline_of(text)
    if edited.endswith(nl + nl) and not text.endswith(nl + nl):
        edited = edited[: -len(nl)]  # the blank line that separated the removed table from what came before
    _check(edited, container, name, None, source)
    return Edit(edited, "removed")


def _check(text: str, container: str, name: str, wanted: Any, source: str) -> None:
    servers = _parse(text, source).get(container)
    found = servers.get(name) if servers is not None else None
    if found is not None and hasattr(found, "unwrap"):
        found = found.unwrap()
    if found != wanted:
        raise AgentMailError(
            f"Editing {source} went wrong: the result does not hold the expected entry.",
            hint="Nothing was written. Please report this with a copy of the file.",
        )
