"""Counts in the words people read: "1 file", "2 files"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``count`` followed by ``singular`` when it is 1, else by ``plural`` (default: ``singular + "s"``)."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def agrees(count: int, singular: str, plural: str) -> str:
    """Return the verb (or pronoun) form that agrees with ``count``: ``agrees(1, "is", "are") == "is"``."""
    return singular if count == 1 else plural


__all__ = ["agrees", "counted"]
