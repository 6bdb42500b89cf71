"""Facts about a SQLite database file and the settings of its connections, asked in one place.

Every function takes either a DB-API ``sqlite3.Connection`` or an SQLAlchemy
``Connection`` on SQLite, so maintenance code that opens files directly and code
that goes through the engines ask the same questions the same way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

# Files SQLite keeps next to a database in WAL mode; they belong to it and move with it.
SQLITE_SIDECARS = ("-wal", "-shm")
FTS_TABLE = "fts_messages"
_FTS_DOCS = f"{FTS_TABLE}_docsize"
# How many problems quick_check reports at most.
QUICK_CHECK_LIMIT = 50
_CACHE_KIB = 16384

Conn = sqlite3.Connection | Connection


def _rows(conn: Conn, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql).fetchall()
    return [tuple(row) for row in conn.exec_driver_sql(sql).fetchall()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def set_connection_pragmas(dbapi_connection: Any, *, busy_timeout_ms: int | None = None, wal: bool = True) -> None:
    """Configure a new SQLite connection: WAL (unless ``wal=False``), full sync, foreign keys, memory temp store."""
    cursor = dbapi_connection.cursor()
    try:
        if busy_timeout_ms is not None:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
    finally:
        cursor.close()


def table_definitions(conn: Conn, database: str = "main") -> list[tuple[str, str]]:
    """Return ``(name, CREATE statement)`` of every table of ``database``, in creation order."""
    rows = _rows(conn, f"SELECT name, sql FROM {_quote(database)}.sqlite_master WHERE type = 'table' ORDER BY rowid")
    return [(str(name), str(sql or "")) for name, sql in rows]


def table_names(conn: Conn, database: str = "main") -> set[str]:
    """Return the names of the tables of ``database``."""
    return {name for name, _sql in table_definitions(conn, database)}


def schema_objects(conn: Conn, database: str = "main") -> dict[tuple[str, str], str]:
    """Return ``(type, name) -> CREATE statement`` (whitespace collapsed) for every schema object of ``database``."""
    rows = _rows(conn, f"SELECT type, name, sql FROM {_quote(database)}.sqlite_master")
    return {(str(kind), str(name)): " ".join(str(sql or "").split()) for kind, name, sql in rows}


def quick_check(conn: Conn, limit: int = QUICK_CHECK_LIMIT) -> list[str]:
    """Run SQLite's ``quick_check``; return the problems it reports (empty when the file is sound)."""
    rows = [str(row[0]) for row in _rows(conn, f"PRAGMA quick_check({int(limit)})")]
    return [] if rows == ["ok"] else rows or ["quick_check returned nothing"]


def has_fts_index(conn: Conn) -> bool:
    """Tell whether the full-text index of messages exists."""
    return _FTS_DOCS in table_names(conn)


def fts_indexed_count(conn: Conn) -> int:
    """Return how many messages the full-text index holds."""
    return int(_rows(conn, f"SELECT count(*) FROM {_FTS_DOCS}")[0][0])


@dataclass(frozen=True)
class FtsCoverage:
    """How the full-text index and the messages table line up."""

    messages: int
    indexed: int
    missing: list[int]  # message ids not in the index
    stale: list[int]  # index entries whose message is gone


def fts_coverage(conn: Conn) -> FtsCoverage:
    """Compare the full-text index with the messages table (the index must exist)."""
    missing = _rows(conn, f"SELECT id FROM messages WHERE id NOT IN (SELECT id FROM {_FTS_DOCS}) ORDER BY id")
    stale = _rows(conn, f"SELECT id FROM {_FTS_DOCS} WHERE id NOT IN (SELECT id FROM messages) ORDER BY id")
    messages = int(_rows(conn, "SELECT count(*) FROM messages")[0][0])
    return FtsCoverage(messages, fts_indexed_count(conn), [int(r[0]) for r in missing], [int(r[0]) for r in stale])


def fts_integrity_problem(conn: Connection) -> str | None:
    """Run FTS5's integrity check in a savepoint; return the problem, or None (also when the database is busy)."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")
    except DBAPIError as exc:
        message = str(exc.orig)
        if "locked" in message or "busy" in message:
            return None
        return message
    return None


__all__ = [
    "FTS_TABLE",
    "QUICK_CHECK_LIMIT",
    "SQLITE_SIDECARS",
    "FtsCoverage",
    "fts_coverage",
    "fts_indexed_count",
    "fts_integrity_problem",
    "has_fts_index",
    "quick_check",
    "schema_objects",
    "set_connection_pragmas",
    "table_definitions",
    "table_names",
]
