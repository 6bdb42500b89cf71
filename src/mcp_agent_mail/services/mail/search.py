"""Full-text search over a project's messages, tolerant of any query text."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, RowMapping, String, TextualSelect, and_, exists, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import is_sqlite, run_read, schema
from mcp_agent_mail.db.shapes import agent_label
from mcp_agent_mail.db.types import UTCDateTime
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.project_agent import Row, project_and_agent
from mcp_agent_mail.services.identity.resolve import check_limit, resolve_project
from mcp_agent_mail.timeutil import iso

logger = logging.getLogger("mcp_agent_mail.search")

OPERATORS = frozenset({"AND", "OR", "NOT"})
_COLUMNS = {"subject": "subject", "body": "body_md", "body_md": "body_md"}
_PIECE = re.compile(r'NEAR\([^()"]*\)|"[^"]*"\*?|[()]|[^\s()"]+')
_NEAR = re.compile(r"NEAR\((?P<terms>[^,]*)(?:,\s*(?P<distance>\d+))?\s*\)")
_WORD = re.compile(r"\w+")
_MAX_FALLBACK_TERMS = 8
_SNIPPET_CHARS = 160
HIT_OPEN, HIT_CLOSE = "\u27e6", "\u27e7"
"""Markers around matched words in a snippet (``⟦word⟧``): they cannot be mistaken for Markdown in the body."""
SNIPPET_MARKS = f"{HIT_OPEN}hit{HIT_CLOSE}"
RANK_WINDOW = 1000
MAX_QUERY_CHARS = 1000


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _term(piece: str) -> str | None:
    """Turn one user word into a quoted FTS5 string (keeping a trailing ``*`` as a prefix search)."""
    column = ""
    head, sep, rest = piece.partition(":")
    if sep and head.lower() in _COLUMNS and rest:
        column, piece = _COLUMNS[head.lower()] + ":", rest
    prefix = piece.endswith("*")
    core = piece.strip("*")
    if not _WORD.search(core):
        return None
    return column + _quote(core) + ("*" if prefix else "")


def _near(piece: str) -> str | None:
    """Turn ``NEAR(a b, 5)`` into a quoted NEAR group (None when it has no words)."""
    match = _NEAR.fullmatch(piece)
    if match is None:
        return None
    terms = [t for t in (_term(w) for w in match["terms"].split()) if t and ":" not in t]
    if not terms:
        return None
    distance = f", {int(match['distance'])}" if match["distance"] else ""
    return "NEAR(" + " ".join(terms) + distance + ")"


def _well_formed(parts: list[str]) -> bool:
    """Tell whether operators and parentheses form a valid FTS5 expression."""
    depth = 0
    previous = "("  # the start behaves like an opening parenthesis
    for part in parts:
        if part == "(":
            if previous not in OPERATORS and previous != "(":
                return False  # FTS5 needs an explicit operator before a group that follows a term
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


def fts_query(query: str) -> str | None:
    """Return a safe FTS5 expression for ``query``, or None when it has no valid structure."""
    if query.count('"') % 2:
        return None
    parts: list[str] = []
    for piece in _PIECE.findall(query):
        if piece in ("(", ")") or piece in OPERATORS:
            parts.append(piece)
        elif piece.startswith("NEAR("):
            near = _near(piece)
            if near is None:
                return None
            parts.append(near)
        elif piece.startswith('"'):
            prefix = piece.endswith("*")
            inner = piece.rstrip("*")[1:-1]
            if _WORD.search(inner):
                parts.append(_quote(inner) + ("*" if prefix else ""))
        else:
            term = _term(piece)
            if term:
                parts.append(term)
    if not any(p not in OPERATORS and p not in ("(", ")") for p in parts):
        return None
    return " ".join(parts) if _well_formed(parts) else None


def words(query: str) -> list[str]:
    """Return the distinct plain words of a query (no operators), in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query):
        if word not in OPERATORS and word.lower() not in seen:
            seen[word.lower()] = None
    return list(seen)[:_MAX_FALLBACK_TERMS]


def _scope_sql(agent_scope: bool) -> str:
    """Scope to the agent's own mail, or to the project's mail (stored there or delivered to its agents)."""
    if not agent_scope:
        return (
            " AND (m.project_id = :project_id OR EXISTS (SELECT 1 FROM message_recipients r "
            "JOIN agents ra ON ra.id = r.agent_id WHERE r.message_id = m.id AND ra.project_id = :project_id))"
        )
    return (
        " AND (m.sender_id = :agent_id OR EXISTS (SELECT 1 FROM message_recipients r "
        "WHERE r.message_id = m.id AND r.agent_id = :agent_id))"
    )


@lru_cache(maxsize=2)
def _fts_statement(agent_scope: bool) -> TextualSelect:
    """Return the prepared full-text statement (params match, project_id, agent_id, limit, window)."""
    scope = _scope_sql(agent_scope)
    # Ranking costs a little per matching row; very common words rank only the newest RANK_WINDOW matches.
    # The floor is an uncorrelated subquery, evaluated once, so the whole search is a single statement.
    floor = (
        "COALESCE((SELECT f.rowid FROM fts_messages f JOIN messages m ON m.id = f.rowid "
        f"WHERE f.fts_messages MATCH :match{scope} ORDER BY f.rowid DESC LIMIT 1 OFFSET :window), 0)"
    )
    # snippet() stays in the statement that scans the index: SQLite builds it only for the rows returned.
    return text(
        "SELECT m.id, m.subject, m.importance, m.ack_required, m.created_ts, m.thread_id, "
        "a.name AS sender_name, a.project_id AS sender_project_id, sp.slug AS sender_slug, "
        f"snippet(fts_messages, 1, '{HIT_OPEN}', '{HIT_CLOSE}', '…', 16) AS snippet "
        "FROM fts_messages JOIN messages m ON m.id = fts_messages.rowid "
        "JOIN agents a ON a.id = m.sender_id JOIN projects sp ON sp.id = a.project_id "
        f"WHERE fts_messages MATCH :match{scope} AND fts_messages.rowid > {floor} "
        "ORDER BY bm25(fts_messages, 3.0, 1.0), m.id DESC LIMIT :limit"
    ).columns(created_ts=UTCDateTime(), ack_required=Boolean(), snippet=String())


async def _fts(
    session: AsyncSession, match: str, project_id: int, agent_id: int | None, limit: int
) -> list[RowMapping]:
    params: dict[str, Any] = {
        "match": match,
        "project_id": project_id,
        "agent_id": agent_id,
        "limit": limit,
        "window": RANK_WINDOW,
    }
    return list((await session.execute(_fts_statement(agent_id is not None), params)).mappings().all())


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _like(
    session: AsyncSession, terms: list[str], project_id: int, agent_id: int | None, limit: int
) -> list[RowMapping]:
    m, a, r, p = schema.messages, schema.agents, schema.message_recipients, schema.projects
    ra = a.alias("recipient_agent")
    query = (
        select(
            m.c.id,
            m.c.subject,
            m.c.importance,
            m.c.ack_required,
            m.c.created_ts,
            m.c.thread_id,
            a.c.name.label("sender_name"),
            a.c.project_id.label("sender_project_id"),
            p.c.slug.label("sender_slug"),
            m.c.body_md.label("snippet"),
        )
        .join(a, a.c.id == m.c.sender_id)
        .join(p, p.c.id == a.c.project_id)
    )
    if agent_id is None:
        delivered_here = exists().where(
            r.c.message_id == m.c.id, ra.c.id == r.c.agent_id, ra.c.project_id == project_id
        )
        query = query.where(or_(m.c.project_id == project_id, delivered_here))
    for term in terms:
        pattern = f"%{_escape_like(term.lower())}%"
        query = query.where(or_(m.c.subject.ilike(pattern, escape="\\"), m.c.body_md.ilike(pattern, escape="\\")))
    if agent_id is not None:
        query = query.where(
            or_(m.c.sender_id == agent_id, exists().where(and_(r.c.message_id == m.c.id, r.c.agent_id == agent_id)))
        )
    query = query.order_by(m.c.created_ts.desc(), m.c.id.desc()).limit(limit)
    return list((await session.execute(query)).mappings().all())


def _excerpt(snippet: str | None) -> str:
    text_ = " ".join((snippet or "").split())
    if len(text_) <= _SNIPPET_CHARS:
        return text_
    cut = text_[: _SNIPPET_CHARS - 2].rstrip()
    if cut.count(HIT_OPEN) > cut.count(HIT_CLOSE):
        cut += HIT_CLOSE
    return cut + "…"


def _hit(row: RowMapping, project_id: int) -> dict[str, Any]:
    sender = agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], project_id)
    hit: dict[str, Any] = {
        "id": row["id"],
        "subject": row["subject"],
        "importance": row["importance"],
        "ack_required": bool(row["ack_required"]),
        "created_ts": iso(row["created_ts"]),
        "from": sender,
    }
    if row["thread_id"] is not None:
        hit["thread_id"] = row["thread_id"]
    snippet = _excerpt(row["snippet"])
    if snippet:
        hit["snippet"] = snippet
        if HIT_OPEN in snippet:
            hit["snippet_marks"] = SNIPPET_MARKS  # says how matched words are marked in the snippet
    return hit


async def _run(
    session: AsyncSession, query: str, project_id: int, agent_id: int | None, limit: int
) -> list[RowMapping]:
    terms = words(query)
    if not terms:
        return []
    if is_sqlite(get_settings().database.url):
        candidates = [q for q in (fts_query(query), " AND ".join(_quote(t) for t in terms)) if q]
        for match in dict.fromkeys(candidates):
            try:
                return await _fts(session, match, project_id, agent_id, limit)
            except DBAPIError as exc:
                logger.info("full-text query %r failed (%s); trying a simpler form", match, exc.orig)
    return await _like(session, terms, project_id, agent_id, limit)


async def search_messages(
    project_key: str, query: str, limit: int = 20, agent_name: str | None = None
) -> list[dict[str, Any]]:
    """Return the project's messages matching ``query``, best match first (only the agent's mail if named)."""
    check_limit(limit)
    query = query if isinstance(query, str) else ""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgumentError(
            f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}.",
            hint="Search for a few distinctive words or an id such as POL-358.",
        )

    async def read(session: AsyncSession) -> tuple[Row, list[RowMapping]]:
        agent_id = None
        if agent_name is not None and agent_name.strip():
            project, agent = await project_and_agent(session, project_key, agent_name)
            agent_id = agent["id"]
        else:
            project = await resolve_project(session, project_key)
        return project, await _run(session, query, project["id"], agent_id, limit)

    project, rows = await run_read(read)
    return [_hit(row, project["id"]) for row in rows]
