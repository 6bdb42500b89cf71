"""SQLite's engine: the FTS5 table ``fts_messages`` over subject and body, kept in sync by triggers."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, RowMapping, TextualSelect, text

from mcp_agent_mail.db.fulltext.base import (
    JOIN_SENDER,
    SELECT_MESSAGE,
    Order,
    Request,
    params,
    scope_sql,
    sql_literal,
    typed,
)
from mcp_agent_mail.db.fulltext.grammar import Near, Part, Phrase
from mcp_agent_mail.db.transactions import ReadTransaction

NAME = "sqlite"
TABLE = "fts_messages"
TRIGGERS = ("fts_messages_ai", "fts_messages_ad", "fts_messages_au")
_BM25 = f"bm25({TABLE}, 3.0, 1.0)"  # a subject match weighs three times a body match


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _phrase(phrase: Phrase) -> str:
    column = f"{phrase.column}:" if phrase.column else ""
    return column + _quote(phrase.text) + ("*" if phrase.prefix else "")


def render(parts: list[Part]) -> str:
    """Return the FTS5 expression of parsed query pieces (every term quoted, so it is always valid)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, Phrase):
            out.append(_phrase(part))
        elif isinstance(part, Near):
            distance = f", {part.distance}" if part.distance is not None else ""
            out.append("NEAR(" + " ".join(_phrase(t) for t in part.terms) + distance + ")")
        else:
            out.append(part)
    return " ".join(out)


@lru_cache(maxsize=16)
def _statement(agent_scope: bool, order: Order, windowed: bool, open_: str, close: str, words: int) -> TextualSelect:
    """Return the full-text statement (params match, project_id or agent_id, limit, offset, window)."""
    scope = scope_sql(agent_scope)
    floor = ""
    if windowed:
        # Ranking costs a little per matching row; very common words rank only the newest `window` matches.
        # The floor is an uncorrelated subquery, evaluated once, so the whole search is a single statement.
        floor = (
            f" AND {TABLE}.rowid > COALESCE((SELECT f.rowid FROM {TABLE} f JOIN messages m ON m.id = f.rowid "
            f"WHERE f.{TABLE} MATCH :match{scope} ORDER BY f.rowid DESC LIMIT 1 OFFSET :window), 0)"
        )
    ordering = f"{_BM25}, m.id DESC" if order == "relevance" else "m.created_ts DESC, m.id DESC"
    # snippet() stays in the statement that scans the index: SQLite builds it only for the rows returned.
    snippet = f"snippet({TABLE}, 1, {sql_literal(open_)}, {sql_literal(close)}, '…', {int(words)})"
    return typed(
        text(
            f"SELECT {SELECT_MESSAGE}, {_BM25} AS rank, {snippet} AS snippet, NULL AS body_md "
            f"FROM {TABLE} JOIN messages m ON m.id = {TABLE}.rowid {JOIN_SENDER} "
            f"WHERE {TABLE} MATCH :match{scope}{floor} "
            f"ORDER BY {ordering} LIMIT :limit OFFSET :offset"
        )
    )


async def search(session: ReadTransaction, parts: list[Part], request: Request) -> list[RowMapping]:
    """Run one FTS5 search (raises the driver's error when FTS5 refuses the expression or the table is gone)."""
    snippet = request.snippet
    statement = _statement(
        request.scope.agent_id is not None,
        request.order,
        request.window is not None,
        snippet.open,
        snippet.close,
        snippet.words,
    )
    values = {**params(request), "match": render(parts)}
    return list((await session.execute(statement, values)).mappings().all())


def install(conn: Connection) -> None:
    """Create the FTS5 table and its triggers when missing, and index every message."""
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
        "subject, body_md, content='messages', content_rowid='id', "
        "tokenize=\"unicode61 remove_diacritics 2\", prefix='2 3')"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER IF NOT EXISTS {TRIGGERS[0]} AFTER INSERT ON messages BEGIN "
        f"INSERT INTO {TABLE}(rowid, subject, body_md) VALUES (new.id, new.subject, new.body_md); END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER IF NOT EXISTS {TRIGGERS[1]} AFTER DELETE ON messages BEGIN "
        f"INSERT INTO {TABLE}({TABLE}, rowid, subject, body_md) "
        "VALUES ('delete', old.id, old.subject, old.body_md); END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER IF NOT EXISTS {TRIGGERS[2]} AFTER UPDATE OF subject, body_md ON messages BEGIN "
        f"INSERT INTO {TABLE}({TABLE}, rowid, subject, body_md) "
        "VALUES ('delete', old.id, old.subject, old.body_md); "
        f"INSERT INTO {TABLE}(rowid, subject, body_md) VALUES (new.id, new.subject, new.body_md); END"
    )
    # Rows that predate the index (or were loaded by a restore) become searchable.
    rebuild(conn)


def rebuild(conn: Connection) -> None:
    """Rebuild the index from the messages table."""
    conn.execute(text(f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')"))


def drop(conn: Connection) -> None:
    """Remove the index and its triggers (searches fall back to plain matching until it is installed again)."""
    for trigger in TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def indexed_count(conn: Connection) -> int:
    """Return how many messages the index holds."""
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}_docsize").scalar_one())


__all__ = ["NAME", "TABLE", "drop", "indexed_count", "install", "rebuild", "render", "search"]
