"""Tools for reservations (filled in by the reservations work)."""

from __future__ import annotations

from fastmcp import FastMCP


def register(mcp: FastMCP) -> None:
    """Add the reservations tools to ``mcp``."""
