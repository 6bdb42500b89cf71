"""Tools for messaging (filled in by the messaging work)."""

from __future__ import annotations

from fastmcp import FastMCP


def register(mcp: FastMCP) -> None:
    """Add the messaging tools to ``mcp``."""
