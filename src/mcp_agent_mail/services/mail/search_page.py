"""One page of a project's search results for a person: relevance or time order, marked snippets, never a crash.

A person overseeing a project searches all of its mail (stored in it or delivered into it), the
messages someone was blind-copied on included; results list no recipients, so no bcc shows.
The query language is the ``search_messages`` tool's (phrases, ``prefix*``, ``subject:`` and
``body:`` filters, AND/OR/NOT, NEAR). A query whose structure cannot be used as written is
searched for its plain words instead, and the result says so.

Snippets come back as ``[(text, matched)]`` pieces, never as markup: whoever displays them
escapes every piece and marks the matched ones, so nothing from a message is ever trusted as HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping

from mcp_agent_mail.db import ReadTransaction, fulltext, run_read
from mcp_agent_mail.db.fulltext import ORDERS, Order
from mcp_agent_mail.db.shapes import agent_label
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.mail.search import MAX_QUERY_CHARS
from mcp_agent_mail.timeutil import iso

MAX_PAGE = 200
MAX_PAGE_SIZE = 100
_OPEN, _CLOSE = "\x02", "\x03"  # snippet markers: control characters that never reach a reader
_SNIPPET_TOKENS = 24
_EXCERPT_CHARS = 220
_WORD = re.compile(r"\w+")
_COLUMN_KEY = re.compile(r"\b(?:subject|body_md|body):", re.IGNORECASE)

Piece = tuple[str, bool]


@dataclass
class SearchPage:
    """One page of results, with what the person asked and anything worth telling them."""

    project: dict[str, Any]
    query: str
    order: str
    page: int
    page_size: int
    hits: list[dict[str, Any]] = field(default_factory=list)
    has_next: bool = False
    notice: str | None = None
    searched_words: list[str] = field(default_factory=list)


def check_order(order: str) -> Order:
    """Validate a result order (``relevance`` or ``time``)."""
    if order not in ORDERS:
        raise InvalidArgumentError(f"order must be relevance or time; got {order!r}.")
    return "time" if order == "time" else "relevance"


def check_page(page: int, page_size: int) -> None:
    """Validate a page number (1..MAX_PAGE) and a page size (1..MAX_PAGE_SIZE)."""
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
        raise InvalidArgumentError(f"page must be an integer from 1 to {MAX_PAGE}; got {page!r}.")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}; got {page_size!r}.")


def _terms(query: str) -> list[tuple[str, bool]]:
    """Return ``(word, is_prefix)`` for each plain word of the query, lower-cased, for marking matches."""
    found: dict[str, bool] = {}
    for match in re.finditer(r"(\w+)(\*?)", _COLUMN_KEY.sub(" ", query)):
        word = match.group(1).lower()
        if word in ("and", "or", "not", "near") and match.group(1).isupper():
            continue
        found[word] = found.get(word, False) or bool(match.group(2))
    return list(found.items())


def mark_words(text_: str, terms: list[tuple[str, bool]]) -> list[Piece]:
    """Split ``text_`` into pieces, flagging the words that match a search term (prefix terms by their start)."""
    pieces: list[Piece] = []
    last = 0
    for match in _WORD.finditer(text_):
        word = match.group(0).lower()
        if any(word == t or (prefix and word.startswith(t)) for t, prefix in terms):
            if match.start() > last:
                pieces.append((text_[last : match.start()], False))
            pieces.append((match.group(0), True))
            last = match.end()
    if last < len(text_):
        pieces.append((text_[last:], False))
    return pieces


def split_snippet(snippet: str) -> list[Piece]:
    """Turn a snippet with the engine's markers into pieces; stray markers are dropped, never shown."""
    pieces: list[Piece] = []
    marked = False
    for part in re.split(f"([{_OPEN}{_CLOSE}])", " ".join(snippet.split())):
        if part == _OPEN:
            marked = True
        elif part == _CLOSE:
            marked = False
        elif part:
            pieces.append((part, marked))
    return pieces


def _excerpt(body: str, terms: list[tuple[str, bool]]) -> list[Piece]:
    """Cut an excerpt of ``body`` around the first matching word and mark the matches in it."""
    flat = " ".join((body or "").split())
    start = 0
    for match in _WORD.finditer(flat):
        word = match.group(0).lower()
        if any(word == t or (prefix and word.startswith(t)) for t, prefix in terms):
            start = max(0, match.start() - 60)
            break
    cut = flat[start : start + _EXCERPT_CHARS]
    pieces = mark_words(cut, terms)
    if start > 0:
        pieces.insert(0, ("…", False))
    if start + _EXCERPT_CHARS < len(flat):
        pieces.append(("…", False))
    return pieces


def _hit(row: RowMapping, project_id: int, terms: list[tuple[str, bool]]) -> dict[str, Any]:
    hit: dict[str, Any] = {
        "id": row["id"],
        "subject": row["subject"],
        "subject_pieces": mark_words(row["subject"] or "", terms),
        "importance": row["importance"],
        "ack_required": bool(row["ack_required"]),
        "created_ts": iso(row["created_ts"]),
        "from": agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], project_id),
        "thread_id": row["thread_id"],
    }
    if row["snippet"] is not None:
        hit["snippet_pieces"] = split_snippet(row["snippet"])
    else:
        hit["snippet_pieces"] = _excerpt(row["body_md"] or "", terms)
    return hit


async def search_page(
    project_key: str, query: str, *, order: str = "relevance", page: int = 1, page_size: int = 20
) -> SearchPage:
    """Return one page of the project's messages matching ``query`` (NOT_FOUND for an unknown project)."""
    chosen = check_order(order)
    check_page(page, page_size)
    query = query if isinstance(query, str) else ""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgumentError(
            f"The search is {len(query)} characters long; at most {MAX_QUERY_CHARS} are allowed.",
            hint="Search for a few distinctive words.",
        )
    plain = fulltext.words(query)
    terms = _terms(query)
    offset = (page - 1) * page_size

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping], bool]:
        project = await resolve_project(session, project_key)
        if not plain:
            return project, [], False
        request = fulltext.Request(
            scope=fulltext.Scope(project["id"]),
            snippet=fulltext.Snippet(_OPEN, _CLOSE, _SNIPPET_TOKENS),
            order=chosen,
            limit=page_size + 1,
            offset=offset,
        )
        found = await fulltext.search(session, query, request)
        return project, found.rows, found.simplified

    project, rows, simplified = await run_read(read)
    result = SearchPage(
        project={"slug": project["slug"], "human_key": project["human_key"]},
        query=query,
        order=chosen,
        page=page,
        page_size=page_size,
        hits=[_hit(row, project["id"], terms) for row in rows[:page_size]],
        has_next=len(rows) > page_size,
        searched_words=plain,
    )
    if query.strip() and not plain:
        result.notice = (
            "The search has no words to look for; type a word, a phrase in quotes or a prefix such as plan*."
        )
    elif simplified:
        result.notice = (
            "The search could not be read as written (check quotes, parentheses and AND/OR/NOT); "
            "it was searched for its words instead: " + ", ".join(plain) + "."
        )
    return result


__all__ = ["MAX_PAGE", "MAX_PAGE_SIZE", "ORDERS", "SearchPage", "check_order", "check_page", "search_page"]
