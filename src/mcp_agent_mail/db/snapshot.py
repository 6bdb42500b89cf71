"""Mailbox snapshots in one format whatever the backend: a SQLite file holding the mailbox's tables.

A restore point carries its database as such a file, so one taken on either
backend restores into either. :func:`save_snapshot` writes one from the
configured database: a SQLite database file is copied with SQLite's online
backup API; any other database is read in one read-only repeatable-read
transaction (a single consistent view, even while servers write) into a new
file that this version's migrations built at the source's schema version.
:func:`load_snapshot` replaces the mailbox's tables of a database with the rows
of such a file inside the caller's transaction, so a failure leaves the old rows.
What differs between the dialects (emptying the tables, the id counters) is the
small :class:`Dialect` below.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.engine import get_sync_engine, sqlite_path_from_url
from mcp_agent_mail.db.migrations import LATEST_VERSION, MIGRATIONS, current_version, rebuild_fts
from mcp_agent_mail.timeutil import utcnow

CHUNK_ROWS = 500
"""How many rows one INSERT carries while a snapshot is written or loaded."""


class SnapshotError(ValueError):
    """A snapshot cannot be written or loaded; the message says why."""


@dataclass
class CopiedRows:
    """What one copy moved: the schema version and the rows per table."""

    schema_version: int
    rows: dict[str, int] = field(default_factory=dict)


def mailbox_tables() -> list[Table]:
    """Return the mailbox's tables in dependency order (parents first), without ``schema_version``."""
    return [table for table in schema.metadata.sorted_tables if table.name != schema.schema_version.name]


def _sequenced() -> list[str]:
    """Names of the tables whose integer id the database hands out."""
    return [table.name for table in mailbox_tables() if table.autoincrement_column is not None]


class Dialect:
    """What a snapshot copy does differently per backend: read the id counters, empty tables, set counters."""

    def counters(self, conn: Connection) -> dict[str, int]:
        """Return the last id handed out per table (a counter that never ran is left out)."""
        return {}

    def clear(self, conn: Connection, tables: list[str]) -> None:
        """Delete every row of ``tables`` (children first) and reset their counters."""
        for name in reversed(tables):
            conn.execute(text(f"DELETE FROM {_q(name)}"))

    def set_counters(self, conn: Connection, floors: dict[str, int]) -> None:
        """Make every id counter hand out ids above the largest id present and above its floor."""


class SQLiteDialect(Dialect):
    """AUTOINCREMENT counters live in ``sqlite_sequence``."""

    def counters(self, conn: Connection) -> dict[str, int]:
        """Return ``sqlite_sequence`` as a dict (empty before any AUTOINCREMENT table got a row)."""
        if not inspect(conn).has_table("sqlite_sequence"):
            return {}
        rows = conn.execute(text("SELECT name, seq FROM sqlite_sequence")).all()
        return {str(name): int(seq) for name, seq in rows if isinstance(seq, int)}

    def clear(self, conn: Connection, tables: list[str]) -> None:
        """Delete the rows children first, then forget the counters of those tables."""
        super().clear(conn, tables)
        if inspect(conn).has_table("sqlite_sequence"):
            for name in tables:
                conn.execute(text("DELETE FROM sqlite_sequence WHERE name = :name"), {"name": name})

    def set_counters(self, conn: Connection, floors: dict[str, int]) -> None:
        """Raise each table's ``sqlite_sequence`` entry to at least its floor and its largest id."""
        current = self.counters(conn)
        for name in _sequenced():
            top = int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {_q(name)}")).scalar_one())
            value = max(top, floors.get(name, 0))
            if value <= current.get(name, 0):
                continue
            params = {"name": name, "seq": value}
            if name in current:
                conn.execute(text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :name"), params)
            elif value:
                conn.execute(text("INSERT INTO sqlite_sequence(name, seq) VALUES (:name, :seq)"), params)


class PostgreSQLDialect(Dialect):
    """Serial columns own a sequence each; TRUNCATE empties all tables at once."""

    def counters(self, conn: Connection) -> dict[str, int]:
        """Return the last value of each table's id sequence (sequences never used are left out)."""
        found: dict[str, int] = {}
        for name in _sequenced():
            value = conn.execute(
                text("SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:table, 'id') AS regclass))"),
                {"table": name},
            ).scalar()
            if value is not None:
                found[name] = int(value)
        return found

    def clear(self, conn: Connection, tables: list[str]) -> None:
        """Empty ``tables`` in one TRUNCATE and restart their sequences."""
        if tables:
            conn.execute(text(f"TRUNCATE TABLE {', '.join(_q(n) for n in tables)} RESTART IDENTITY CASCADE"))

    def set_counters(self, conn: Connection, floors: dict[str, int]) -> None:
        """Set each id sequence so the next id is above its floor and above the largest id present."""
        for name in _sequenced():
            top = int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {_q(name)}")).scalar_one())
            value = max(top, floors.get(name, 0))
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :value, :called)"),
                {"table": name, "value": max(value, 1), "called": value > 0},
            )


def dialect_of(conn: Connection) -> Dialect:
    """Return the snapshot operations for the backend of ``conn``."""
    if conn.dialect.name == "sqlite":
        return SQLiteDialect()
    if conn.dialect.name == "postgresql":
        return PostgreSQLDialect()
    return Dialect()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def migrate_to(conn: Connection, version: int) -> None:
    """Apply the migrations up to ``version`` on an empty database and record them (as ``migrate`` does)."""
    schema.metadata.create_all(conn, tables=[schema.schema_version])
    for migration in MIGRATIONS:
        if migration.version > version:
            break
        migration.apply(conn)
        conn.execute(
            schema.schema_version.insert().values(version=migration.version, name=migration.name, applied_ts=utcnow())
        )


def _shadow(table: Table, names: set[str]) -> Table:
    """The columns of ``table`` named in ``names``, with their types but without defaults or constraints."""
    return Table(table.name, MetaData(), *[Column(c.name, c.type) for c in table.columns if c.name in names])


def _columns(conn: Connection, name: str) -> set[str]:
    inspector = inspect(conn)
    if not inspector.has_table(name):
        return set()
    return {str(column["name"]) for column in inspector.get_columns(name)}


def copy_tables(source: Connection, target: Connection, tables: list[Table] | None = None) -> dict[str, int]:
    """Insert every row of the mailbox tables of ``source`` into the same tables of ``target``; return row counts.

    Only the columns both sides have are copied; a table one side lacks is skipped.
    """
    copied: dict[str, int] = {}
    for table in tables or mailbox_tables():
        shared = _columns(source, table.name) & _columns(target, table.name)
        if not shared:
            continue
        shadow = _shadow(table, shared)
        order = [shadow.c[c.name] for c in table.primary_key.columns if c.name in shared]
        result = source.execute(
            select(shadow).order_by(*order), execution_options={"stream_results": True, "yield_per": CHUNK_ROWS}
        )
        count = 0
        for chunk in result.partitions(CHUNK_ROWS):
            target.execute(shadow.insert(), [dict(row._mapping) for row in chunk])
            count += len(chunk)
        copied[table.name] = count
    return copied


def dump_to_sqlite(source: Connection, target: Path) -> CopiedRows:
    """Write the mailbox of ``source`` into the new SQLite file ``target``, at the source's schema version."""
    version = current_version(source)
    if version < 1:
        raise SnapshotError("the database holds no mailbox schema")
    if version > LATEST_VERSION:
        raise SnapshotError(f"the database has schema version {version}, newer than this program ({LATEST_VERSION})")
    engine = create_engine(URL.create("sqlite", database=str(target)), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            migrate_to(conn, version)
            rows = copy_tables(source, conn)
            SQLiteDialect().set_counters(conn, dialect_of(source).counters(source))
            rebuild_fts(conn)
    finally:
        engine.dispose()
    return CopiedRows(version, rows)


def backup_sqlite_file(source: Path, target: Path) -> None:
    """Copy the SQLite file ``source`` into the new file ``target`` with SQLite's online backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


@contextlib.contextmanager
def consistent_read(settings: Settings) -> Iterator[Connection]:
    """Yield a read-only transaction that sees one consistent state of the configured database.

    It neither creates nor migrates anything.
    """
    engine = get_sync_engine(settings)
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect() as raw:
        conn = raw.execution_options(**options) if options else raw
        with conn.begin():
            yield conn


def has_mailbox(settings: Settings) -> bool:
    """Tell whether the configured database holds a mailbox (its SQLite file exists; any other has our schema)."""
    path = sqlite_path_from_url(settings.database.url)
    if path is not None:
        return path.is_file()
    with consistent_read(settings) as conn:
        return current_version(conn) > 0


def save_snapshot(settings: Settings, target: Path) -> None:
    """Write the configured database's mailbox into the new SQLite file ``target`` (the source is unchanged)."""
    path = sqlite_path_from_url(settings.database.url)
    if path is not None:
        backup_sqlite_file(path, target)
        return
    with consistent_read(settings) as conn:
        dump_to_sqlite(conn, target)


@contextlib.contextmanager
def open_snapshot(snapshot: Path) -> Iterator[Connection]:
    """Yield a read transaction on the SQLite file ``snapshot``."""
    engine = create_engine(URL.create("sqlite", database=str(snapshot)), poolclass=NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    finally:
        engine.dispose()


def load_snapshot(target: Connection, snapshot: Path) -> CopiedRows:
    """Replace the mailbox's rows in ``target`` (inside its transaction) with those of the SQLite file ``snapshot``.

    Both must be at the same schema version. Emptied tables start their id counters
    again above the largest id loaded and above the snapshot's own counters; the
    full-text index is rebuilt.
    """
    dialect = dialect_of(target)
    with open_snapshot(snapshot) as source:
        version = current_version(source)
        if version != current_version(target):
            raise SnapshotError(f"the snapshot has schema version {version}, the database {current_version(target)}")
        tables = mailbox_tables()
        dialect.clear(target, [t.name for t in tables if _columns(target, t.name)])
        rows = copy_tables(source, target, tables)
        floors = SQLiteDialect().counters(source)
    dialect.set_counters(target, floors)
    rebuild_fts(target)
    return CopiedRows(version, rows)


__all__ = [
    "CHUNK_ROWS",
    "CopiedRows",
    "Dialect",
    "PostgreSQLDialect",
    "SQLiteDialect",
    "SnapshotError",
    "backup_sqlite_file",
    "consistent_read",
    "copy_tables",
    "dialect_of",
    "dump_to_sqlite",
    "has_mailbox",
    "load_snapshot",
    "mailbox_tables",
    "migrate_to",
    "open_snapshot",
    "save_snapshot",
]
