"""Turn a restore point's database snapshot into a fresh database that this version's migrations built.

The snapshot is never used as the mailbox. Its schema could hold anything: a
trigger that rewrites every new message, a replaced full-text trigger, views,
extra tables. So a new file is built by the migrations (up to the snapshot's
schema version), the rows of the tables those migrations create are copied
across, the remaining migrations run, and the search index is rebuilt. Nothing
of the snapshot's own schema survives; what was left out is reported.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from mcp_agent_mail.db.migrations import LATEST_VERSION, migrate, rebuild_fts
from mcp_agent_mail.db.snapshot import migrate_to
from mcp_agent_mail.db.sqlite_facts import quick_check, schema_objects, table_definitions
from mcp_agent_mail.errors import ArchiveError

# Tables every mailbox snapshot has had since the first version.
REQUIRED_TABLES = ("schema_version", "projects", "agents", "messages", "message_recipients", "file_reservations")
_SNAP = "snap"


class SnapshotRefused(ValueError):
    """The snapshot cannot become a mailbox; the message says why."""


@dataclass
class RebuiltDatabase:
    """What :func:`rebuild_snapshot` made of a snapshot."""

    schema_version: int
    rows: dict[str, int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ro_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro&immutable=1"


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool) -> Iterator[sqlite3.Connection]:
    uri = _ro_uri(path) if read_only else path.resolve().as_uri()
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        if read_only:
            # The snapshot's schema code (views, triggers, generated columns) may not call risky functions.
            # The new database keeps the default: its own full-text triggers must run while rows arrive,
            # and only plain columns of the snapshot's ordinary tables are ever read from it.
            conn.execute("PRAGMA trusted_schema=OFF")
        yield conn
    finally:
        conn.close()


def _read_snapshot(snapshot: Path) -> tuple[int, dict[tuple[str, str], str]]:
    """Check the snapshot's integrity and return (schema version, its schema objects)."""
    try:
        with _connect(snapshot, read_only=True) as conn:
            problems = quick_check(conn)
            objects = schema_objects(conn)
            if problems:
                raise SnapshotRefused(f"the database snapshot fails its integrity check ({problems[0]})")
            for table in REQUIRED_TABLES:
                if ("table", table) not in objects:
                    raise SnapshotRefused(f"the database snapshot is not a mailbox database (no {table} table)")
            version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise SnapshotRefused(f"the database snapshot is not a usable SQLite database ({exc})") from exc
    if not isinstance(version, int) or version < 1:
        raise SnapshotRefused(f"the database snapshot records no valid schema version ({version!r})")
    return version, objects


def _copyable(conn: sqlite3.Connection) -> list[str]:
    """Return the ordinary tables of the new database whose rows come from the snapshot."""
    tables = table_definitions(conn)
    virtual = [name for name, sql in tables if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    return [
        name
        for name, _sql in tables
        if not name.startswith("sqlite_")
        and name != "schema_version"
        and name not in virtual
        and not any(name.startswith(f"{v}_") for v in virtual)
    ]


def _columns(conn: sqlite3.Connection, db: str, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA {db}.table_info({_q(table)})")]


def _copy_rows(conn: sqlite3.Connection, snapshot_objects: dict[tuple[str, str], str]) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table in _copyable(conn):
        kinds = [kind for kind, name in snapshot_objects if name == table and kind != "trigger"]
        if not kinds:
            continue  # a table added by a later migration: the snapshot predates it
        if kinds != ["table"] or snapshot_objects[("table", table)].upper().startswith("CREATE VIRTUAL TABLE"):
            raise SnapshotRefused(f"the snapshot's {table} is not an ordinary table")
        present = set(_columns(conn, _SNAP, table))
        columns = ", ".join(_q(c) for c in _columns(conn, "main", table) if c in present)
        cursor = conn.execute(f"INSERT INTO main.{_q(table)} ({columns}) SELECT {columns} FROM {_SNAP}.{_q(table)}")
        rows[table] = cursor.rowcount
    if ("table", "sqlite_sequence") in snapshot_objects:
        autoincrement = {name for name, sql in table_definitions(conn) if "AUTOINCREMENT" in sql.upper()}
        for name, seq in conn.execute(f"SELECT name, seq FROM {_SNAP}.sqlite_sequence").fetchall():
            if name in autoincrement and isinstance(seq, int):
                updated = conn.execute(
                    "UPDATE main.sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (seq, name)
                ).rowcount
                if not updated:
                    conn.execute("INSERT INTO main.sqlite_sequence(name, seq) VALUES (?, ?)", (name, seq))
    return rows


def _left_out(snapshot_objects: dict[tuple[str, str], str], ours: dict[tuple[str, str], str]) -> list[str]:
    """Name the snapshot's schema objects that the new database does not have, or has differently."""
    out: list[str] = []
    for (kind, name), sql in sorted(snapshot_objects.items()):
        if name.startswith("sqlite_"):
            continue
        if (kind, name) not in ours:
            out.append(f"{kind} {name}")
        elif kind != "table" and ours[(kind, name)] != sql:
            out.append(f"{kind} {name} (replaced by this version's)")
    return out


def rebuild_snapshot(snapshot: Path, target: Path, restore_point: Path) -> RebuiltDatabase:
    """Build ``target`` (a new file) with the migrations and the mailbox rows of ``snapshot``."""
    version, snapshot_objects = _read_snapshot(snapshot)
    if version > LATEST_VERSION:
        raise ArchiveError(
            f"{restore_point.name} cannot be restored: its database has schema version {version}, newer than this "
            f"program knows ({LATEST_VERSION}).",
            hint="Upgrade mcp-agent-mail, then restore it again.",
        )
    engine = create_engine(URL.create("sqlite", database=str(target)), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            migrate_to(conn, version)
        with _connect(target, read_only=False) as conn:
            conn.execute(f"ATTACH DATABASE ? AS {_SNAP}", (_ro_uri(snapshot),))
            conn.execute("BEGIN IMMEDIATE")
            rows = _copy_rows(conn, snapshot_objects)
            conn.execute("COMMIT")
            conn.execute(f"DETACH DATABASE {_SNAP}")
        with engine.begin() as conn:
            migrate(conn)
            rebuild_fts(conn)
        with _connect(target, read_only=False) as conn:
            problems = quick_check(conn)
            ours = schema_objects(conn)
    except sqlite3.DatabaseError as exc:
        raise SnapshotRefused(f"the snapshot's rows do not fit this version's tables ({exc})") from exc
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise SnapshotRefused(f"the snapshot's rows do not fit this version's tables ({reason})") from exc
    finally:
        engine.dispose()
    if problems:
        raise SnapshotRefused(f"the rebuilt database fails its integrity check ({problems[0]})")
    return RebuiltDatabase(version, rows, _left_out(snapshot_objects, ours))


__all__ = ["REQUIRED_TABLES", "RebuiltDatabase", "SnapshotRefused", "rebuild_snapshot"]
