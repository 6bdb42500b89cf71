"""Shaping tool results: drop null and empty fields, and render list results as compact tables.

Table form (``format="table"``; the result is then this text instead of a list): a header
row naming the keys present in any item, in order of first appearance, then one row per item;
cells are separated by ``|``. In a cell ``\\`` is written ``\\\\``, ``|`` is ``\\|``, a newline
``\\n`` and a carriage return ``\\r``; a missing value is an empty cell, ``true``/``false`` are
booleans and lists or objects are compact JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.types import TextContent
from pydantic import WithJsonSchema

from mcp_agent_mail.errors import InvalidArgumentError

FORMATS = ("json", "table")
_DEFAULT_ALIASES = {"", "auto", "default", "none", "null"}
_JSON_ALIASES = {"json", "application/json", "text/json"}

# Keys whose empty value is itself the answer (no reservation granted, no conflict, no mail),
# so they stay in results even when empty.
KEEP_EMPTY = frozenset({"granted", "conflicts", "deliveries", "file_reservations", "inbox", "messages", "result"})

FormatParam = Annotated[str, WithJsonSchema({"type": "string", "enum": list(FORMATS)})]


def normalise_format(value: str | None) -> str:
    """Return ``json`` or ``table`` for a requested output format, or raise INVALID_ARGUMENT."""
    requested = "" if value is None else str(value).strip().lower()
    if requested in _DEFAULT_ALIASES or requested in _JSON_ALIASES:
        return "json"
    if requested == "table":
        return "table"
    raise InvalidArgumentError(f"Invalid format {value!r}.", hint="Pass format='json' (the default) or format='table'.")


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict | tuple) and len(value) == 0)


def prune(value: Any) -> Any:
    """Return ``value`` without null or empty fields at any depth (KEEP_EMPTY keys excepted)."""
    if isinstance(value, dict):
        pruned = {}
        for key, item in value.items():
            item = prune(item)
            if key in KEEP_EMPTY or not _is_empty(item):
                pruned[key] = item
        return pruned
    if isinstance(value, list):
        return [prune(item) for item in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list | tuple):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\r", "\\r")


def render_table(items: list[Any]) -> str:
    """Render a list of objects as the '|'-separated table described in this module."""
    columns: list[str] = []
    for item in items:
        if isinstance(item, dict):
            columns.extend(key for key in item if key not in columns)
    if not columns:
        return "\n".join(_cell(item) for item in items)
    lines = ["|".join(_cell(column) for column in columns)]
    for item in items:
        row = item if isinstance(item, dict) else {}
        lines.append("|".join(_cell(row.get(column)) for column in columns))
    return "\n".join(lines)


def table_result(items: list[Any]) -> Any:
    """Return the MCP result of a list rendered as a table: the text, also as ``{"result": text}``."""
    from fastmcp.tools.base import ToolResult

    text = render_table(items)
    return ToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"result": text},
        meta={"fastmcp": {"wrap_result": True}},
    )
