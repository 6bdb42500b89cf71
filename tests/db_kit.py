"""Backend-neutral looks at a test's database, the way an auditor would: plain SQL and the schema's tables.

Every function works on SQLite and PostgreSQL alike. Without ``url`` they read the database of the current
settings (``DATABASE_URL``) through :func:`mcp_agent_mail.db.sync_read_connection` or write through
:func:`mcp_agent_mail.db.sync_write_connection`; with ``url`` they open that database directly (a mailbox another
process serves), never creating its schema. Raw SQL takes named parameters (``:name``) on both dialects. Values
read through :mod:`mcp_agent_mail.db.schema` tables come back typed (aware datetimes, booleans) on both.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    String,
    Table,
    TextClause,
    bindparam,
    cast,
    create_engine,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeDecorator

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema, sqlite_path_from_url, sync_read_connection, sync_write_connection
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.timeutil import ensure_utc

OUTBOX = "archive_outbox"


def current_url() -> str:
    """Return the database URL of the current settings."""
    return get_settings().database.url


def on_sqlite(url: str | None = None) -> bool:
    """Tell whether ``url`` (default: the current database) is a SQLite database."""
    return parse_database_url(url or current_url()).dialect == "sqlite"


@contextlib.contextmanager
def reading(url: str | None = None) -> Iterator[Connection]:
    """Yield a read connection to ``url`` (default: the current database, through the application's engine)."""
    if url is None:
        with sync_read_connection() as conn:
            yield conn
        return
    with _engine(url).connect() as conn, conn.begin():
        yield conn


@functools.cache
def _engine(url: str) -> Engine:
    """One engine per database URL: SQLite files are opened afresh each time (no file stays open); PostgreSQL
    keeps a connection or two (its test databases are dropped with FORCE, and their names are never reused)."""
    backend = parse_database_url(url)
    if backend.dialect == "sqlite":
        return create_engine(backend.sync_url, poolclass=NullPool, connect_args={"timeout": 30})
    return create_engine(backend.sync_url, pool_size=1, max_overflow=4, connect_args={"connect_timeout": 10})


def table(name: str) -> Table:
    """Return the schema's table called ``name``."""
    return schema.metadata.tables[name]


def sql_text(sql: str, params: dict[str, Any]) -> TextClause:
    """Return ``sql`` as a text clause; a list or tuple parameter expands, as in ``id IN :ids``."""
    clause = text(sql)
    lists: list[BindParameter[Any]] = [
        bindparam(key, expanding=True) for key, value in params.items() if isinstance(value, list | tuple)
    ]
    return clause.bindparams(*lists) if lists else clause


def query(sql: str, /, url: str | None = None, **params: Any) -> list[tuple[Any, ...]]:
    """Run one raw SELECT with named parameters and return its rows as tuples (column types do not apply)."""
    with reading(url) as conn:
        return [tuple(row) for row in conn.execute(sql_text(sql, params), params)]


def scalar(sql: str, /, url: str | None = None, **params: Any) -> Any:
    """Run one raw SELECT with named parameters and return the first column of its first row."""
    with reading(url) as conn:
        return conn.execute(sql_text(sql, params), params).scalar()


def count(name: str, where: str = "", /, url: str | None = None, **params: Any) -> int:
    """Return how many rows of table ``name`` match the SQL condition ``where`` (named parameters)."""
    statement = select(func.count()).select_from(table(name))
    if where:
        statement = statement.where(sql_text(where, params))
    with reading(url) as conn:
        return int(conn.execute(statement, params).scalar_one())


def rows(
    name: str, /, *columns: str, where: str = "", order_by: str = "id", url: str | None = None, **params: Any
) -> list[tuple[Any, ...]]:
    """Return ``columns`` (default: all) of table ``name``'s rows matching ``where``, typed by the schema."""
    source = table(name)
    picked = [source.c[column] for column in columns] if columns else list(source.c)
    statement = select(*picked)
    if where:
        statement = statement.where(text(where))
    keys = [key.strip() for key in order_by.split(",") if key.strip()]
    statement = statement.order_by(*(source.c[key] for key in keys if key in source.c))
    with reading(url) as conn:
        return [tuple(row) for row in conn.execute(statement, params)]


def execute(sql: str, /, **params: Any) -> int:
    """Run one raw write statement with named parameters in the current database; return the rows it touched."""
    with sync_write_connection() as conn:
        return int(conn.execute(text(sql), params).rowcount)


def outbox_last_id(url: str | None = None) -> int:
    """Return the highest archive-outbox id ever issued (it only grows, even after the writer empties the queue)."""
    with reading(url) as conn:
        if conn.dialect.name == "sqlite":
            found = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": OUTBOX})
            return int(found.scalar() or 0)
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:name, 'id')"), {"name": OUTBOX}).scalar_one()
        found = conn.execute(text(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"))
        return int(found.scalar_one())


def pending_outbox(url: str | None = None) -> int:
    """Return how many archive-outbox rows are still queued."""
    return count(OUTBOX, url=url)


def normalised(value: Any) -> Any:
    """Return ``value`` in a form equal on both dialects: UTC ISO text for datetimes, 0/1 for booleans."""
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _abbreviated(column: Any) -> ColumnElement[Any]:
    """Select a long text or binary value by its first characters and its length (cheap, yet sees a change)."""
    if isinstance(column.type, TypeDecorator):
        return column
    length = cast(func.length(column), String)
    if isinstance(column.type, LargeBinary):
        return length
    if isinstance(column.type, String):
        return func.substr(column, 1, 48, type_=String) + "#" + length
    return column


def digest(skip: tuple[str, ...] = (OUTBOX,), url: str | None = None, *, abbreviate: bool = False) -> str:
    """Return a digest of every row of every schema table but ``skip`` (for "nothing changed" checks).

    With ``abbreviate`` long text and binary values count by their start and length only (for hot loops).
    """
    hashed = hashlib.sha256()
    with reading(url) as conn:
        for name in sorted(schema.metadata.tables):
            if name in skip:
                continue
            source = table(name)
            statement = select(*(_abbreviated(c) for c in source.c)) if abbreviate else select(source)
            found = [tuple(normalised(value) for value in row) for row in conn.execute(statement)]
            hashed.update(name.encode())
            for row in sorted(found, key=repr):
                hashed.update(repr(row).encode())
    return hashed.hexdigest()


def database_exists(url: str | None = None) -> bool:
    """Tell whether anything was created in the database: the SQLite file, or any table in PostgreSQL."""
    url = url or current_url()
    path = sqlite_path_from_url(url)
    if path is not None:
        return Path(path).exists()
    with reading(url) as conn:
        return bool(inspect(conn).get_table_names())


def table_names(url: str | None = None) -> set[str]:
    """Return the names of the database's tables (including dialect-specific ones such as SQLite's FTS tables)."""
    with reading(url or current_url()) as conn:
        return set(inspect(conn).get_table_names())


def update(name: str, where: str, values: dict[str, Any], /, **params: Any) -> int:
    """Set ``values`` (typed by the schema) on table ``name``'s rows matching ``where``; return how many changed."""
    # Parameters of the condition are renamed so they never clash with the columns being set.
    condition = re.sub(r"(?<!:):(\w+)", lambda found: f":where_{found.group(1)}", where)
    bound = text(condition).bindparams(**{f"where_{key}": value for key, value in params.items()})
    statement = table(name).update().where(bound).values(**values)
    with sync_write_connection() as conn:
        return int(conn.execute(statement).rowcount)


def unusable_url(folder: Path) -> str:
    """A database URL that cannot be opened: a SQLite file under a plain file (made in ``folder``), or, on
    PostgreSQL, a database of the current server that was never created."""
    if on_sqlite():
        blocker = folder / "not-a-directory"
        blocker.write_text("a file where a directory should be")
        return f"sqlite+aiosqlite:///{blocker / 'db.sqlite3'}"
    return make_url(current_url()).set(database="never_created").render_as_string(hide_password=False)


def search_index_size(url: str | None = None) -> int:
    """Return how many messages the full-text index holds (SQLite's FTS5 table, PostgreSQL's own index)."""
    from mcp_agent_mail.db import fulltext

    with reading(url) as conn:
        return fulltext.indexed_count(conn)
