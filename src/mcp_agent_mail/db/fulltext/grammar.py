"""The search query language, parsed once for every engine.

A query is words, ``"quoted phrases"``, ``prefix*`` terms, ``subject:``/``body:`` column
filters, ``NEAR(a b, 5)`` groups, parentheses and the operators AND, OR and NOT (binary:
``a NOT b``). Adjacent terms are ANDed. :func:`parse` returns the pieces of a query whose
structure is valid, or None; an engine then searches the query's plain :func:`words` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPERATORS = frozenset({"AND", "OR", "NOT"})
COLUMNS = {"subject": "subject", "body": "body_md", "body_md": "body_md"}
_PIECE = re.compile(r'NEAR\([^()"]*\)|"[^"]*"\*?|[()]|[^\s()"]+')
_NEAR = re.compile(r"NEAR\((?P<terms>[^,]*)(?:,\s*(?P<distance>\d+))?\s*\)")
_WORD = re.compile(r"\w+")
MAX_PLAIN_WORDS = 8


@dataclass(frozen=True)
class Phrase:
    """A word or quoted phrase, maybe a prefix (``plan*``), maybe limited to a column (``subject``/``body_md``)."""

    text: str
    prefix: bool = False
    column: str | None = None


@dataclass(frozen=True)
class Near:
    """Terms that must appear close together (``distance`` words apart at most; None means the default)."""

    terms: tuple[Phrase, ...]
    distance: int | None = None


Part = Phrase | Near | str
"""One piece of a parsed query: a term, a NEAR group, an operator or a parenthesis."""


def _phrase(piece: str) -> Phrase | None:
    """Read one unquoted piece (``subject:plan*``); None when it has no word in it."""
    column = None
    head, sep, rest = piece.partition(":")
    if sep and head.lower() in COLUMNS and rest:
        column, piece = COLUMNS[head.lower()], rest
    prefix = piece.endswith("*")
    core = piece.strip("*")
    if not _WORD.search(core):
        return None
    return Phrase(core, prefix, column)


def _near(piece: str) -> Near | None:
    """Read ``NEAR(a b, 5)``; None when it is malformed or has no plain word."""
    match = _NEAR.fullmatch(piece)
    if match is None:
        return None
    terms = tuple(
        t for t in (_phrase(w) for w in match["terms"].split()) if t and t.column is None and ":" not in t.text
    )
    if not terms:
        return None
    return Near(terms, int(match["distance"]) if match["distance"] else None)


def _well_formed(parts: list[Part]) -> bool:
    """Tell whether operators and parentheses form a valid expression."""
    depth = 0
    previous: Part = "("  # the start behaves like an opening parenthesis
    for part in parts:
        if part == "(":
            if previous not in OPERATORS and previous != "(":
                return False  # a group that follows a term needs an explicit operator
            depth += 1
        elif part == ")":
            depth -= 1
            if depth < 0 or previous in OPERATORS or previous == "(":
                return False
        elif part in OPERATORS:
            if previous in OPERATORS or previous == "(":
                return False
        elif previous == ")":
            return False  # a term right after a group also needs an explicit operator
        previous = part
    return depth == 0 and previous not in OPERATORS and previous != "("


def parse(query: str) -> list[Part] | None:
    """Return the pieces of ``query``, or None when its structure cannot be used as written."""
    if query.count('"') % 2:
        return None
    parts: list[Part] = []
    for piece in _PIECE.findall(query.replace("\x00", " ")):  # no engine takes NUL inside a word
        if piece in ("(", ")") or piece in OPERATORS:
            parts.append(piece)
        elif piece.startswith("NEAR("):
            near = _near(piece)
            if near is None:
                return None
            parts.append(near)
        elif piece.startswith('"'):
            inner = piece.rstrip("*")[1:-1]
            if _WORD.search(inner):
                parts.append(Phrase(inner, piece.endswith("*")))
        else:
            phrase = _phrase(piece)
            if phrase:
                parts.append(phrase)
    if not any(isinstance(p, (Phrase, Near)) for p in parts):
        return None
    return parts if _well_formed(parts) else None


def words(query: str) -> list[str]:
    """Return the distinct plain words of a query (no operators), lower-cased, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query):
        if word not in OPERATORS and word.lower() not in seen:
            seen[word.lower()] = None
    return list(seen)[:MAX_PLAIN_WORDS]


def plain(query: str) -> list[Part]:
    """Return the query searched for its plain words: every word, ANDed."""
    return [Phrase(word) for word in words(query)]


__all__ = ["COLUMNS", "OPERATORS", "Near", "Part", "Phrase", "parse", "plain", "words"]
