"""Full-text search of messages, one engine per database: FTS5 on SQLite, ``tsvector`` on PostgreSQL.

:func:`search` takes any query text and never fails on its syntax: a query whose structure cannot be
used as written is searched for its plain words (and says so), and a database whose index is gone is
searched by plain matching. The maintenance side (:func:`install`, :func:`rebuild`, :func:`drop`,
:func:`indexed_count`) works on a synchronous connection of either database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import DBAPIError

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.db.fulltext import fts5, like, pg
from mcp_agent_mail.db.fulltext.base import ORDERS, Order, Request, Scope, Snippet
from mcp_agent_mail.db.fulltext.grammar import parse, plain, words
from mcp_agent_mail.db.transactions import ReadTransaction

logger = logging.getLogger("mcp_agent_mail.search")

_ENGINES: dict[str, ModuleType] = {fts5.NAME: fts5, pg.NAME: pg}


@dataclass(frozen=True)
class Found:
    """Matching rows, and whether the query was searched for its plain words instead of as written."""

    rows: list[RowMapping]
    simplified: bool = False


def _engine(dialect: str) -> ModuleType:
    """Return the engine module of a SQLAlchemy dialect name."""
    return _ENGINES[dialect]


async def search(session: ReadTransaction, query: str, request: Request) -> Found:
    """Return the messages matching ``query`` within the request's scope, order and page."""
    plain_words = words(query)
    if not plain_words:
        return Found([])
    engine = _engine(parse_database_url(get_settings().database.url).dialect)
    structured, fallback = parse(query), plain(query)
    attempts = [(structured, False)] if structured is not None else []
    if structured != fallback:
        attempts.append((fallback, structured is None))
    for parts, simplified in attempts:
        try:
            return Found(await engine.search(session, parts, request), simplified)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the connection is gone: the read is run again or reported, not simplified
            logger.info("full-text query %r failed (%s); trying a simpler form", query, exc.orig)
    return Found(await like.search(session, plain_words, request), True)


def install(conn: Connection) -> None:
    """Create the full-text index of ``conn``'s database when missing and index every message."""
    _engine(conn.dialect.name).install(conn)


def rebuild(conn: Connection) -> None:
    """Rebuild the full-text index from the messages table (recreating it when it is gone)."""
    _engine(conn.dialect.name).install(conn)


def drop(conn: Connection) -> None:
    """Remove the full-text index (search falls back to plain matching until :func:`rebuild`)."""
    _engine(conn.dialect.name).drop(conn)


def indexed_count(conn: Connection) -> int:
    """Return how many messages the full-text index holds."""
    return int(_engine(conn.dialect.name).indexed_count(conn))


__all__ = [
    "ORDERS",
    "Found",
    "Order",
    "Request",
    "Scope",
    "Snippet",
    "drop",
    "indexed_count",
    "install",
    "parse",
    "rebuild",
    "search",
    "words",
]
