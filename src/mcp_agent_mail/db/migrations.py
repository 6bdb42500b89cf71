"""Ordered forward migrations recorded in ``schema_version``.

Each migration runs once, in order, inside one transaction, and is recorded
with its number. To change the schema, append a migration; never edit one that
has shipped. (Migration 1 builds the tables of ``schema.py`` as first released:
a new column must be added by a new migration *and* declared in ``schema.py``
with ``create_all`` skipping it, see ``_create_core_tables``.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, inspect, select

from mcp_agent_mail.db import fulltext, schema
from mcp_agent_mail.db.change_feed import triggers
from mcp_agent_mail.db.fulltext import fts5, pg
from mcp_agent_mail.db.types import UTCDateTime
from mcp_agent_mail.timeutil import utcnow


@dataclass(frozen=True)
class Migration:
    """One schema step: a number, a name and the function that applies it."""

    version: int
    name: str
    apply: Callable[[Connection], None]


_CORE_TABLES = [
    schema.projects,
    schema.agents,
    schema.messages,
    schema.message_recipients,
    schema.file_reservations,
    schema.agent_links,
]

# The archive outbox as migration 1 created it; migration 6 adds its failure columns.
_OUTBOX_V1 = Table(
    "archive_outbox",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(256), nullable=False),
    Column("created_ts", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)
_OUTBOX_FAILURE_COLUMNS = ("attempts", "last_error", "failed_ts", "retry_ts")


def _create_core_tables(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=_CORE_TABLES)
    _OUTBOX_V1.create(conn, checkfirst=True)


def _create_fts(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        fts5.install(conn)


def _create_attachment_blobs(conn: Connection) -> None:
    schema.attachment_blobs.create(conn, checkfirst=True)


def _create_message_summaries(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.message_summaries])


def _create_window_identities(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.window_identities])


def _add_outbox_failures(conn: Connection) -> None:
    """Give outbox rows an attempt count, their last error and a retry time (existing rows: never failed)."""
    present = {column["name"] for column in inspect(conn).get_columns("archive_outbox")}
    preparer = conn.dialect.identifier_preparer
    for name in _OUTBOX_FAILURE_COLUMNS:
        if name in present:
            continue
        column = schema.archive_outbox.c[name]
        ddl = f"ALTER TABLE archive_outbox ADD COLUMN {preparer.quote(name)} {column.type.compile(conn.dialect)}"
        if name == "attempts":
            ddl += " NOT NULL DEFAULT 0"
        conn.exec_driver_sql(ddl)


def _create_pg_search(conn: Connection) -> None:
    """Give PostgreSQL its full-text index (SQLite has had FTS5 since migration 2)."""
    if conn.dialect.name == "postgresql":
        pg.install(conn)


def _create_mail_notifications(conn: Connection) -> None:
    """Make PostgreSQL announce deliveries and new agents or projects (SQLite polls its change counter instead)."""
    if conn.dialect.name == "postgresql":
        triggers.install(conn)


def _create_client_sends(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.client_sends])


def _fold_ascii_fast(conn: Connection) -> None:
    """Let PostgreSQL's search folding skip its table of accented letters for ASCII text (same words)."""
    if conn.dialect.name == "postgresql":
        pg.install_fold(conn)


def _search_index_without_pending_list(conn: Connection) -> None:
    """Keep PostgreSQL's search index free of a pending list that every search would scan."""
    if conn.dialect.name == "postgresql":
        pg.index_without_pending_list(conn)


def _index_unread_receipts(conn: Connection) -> None:
    """Index each agent's unread receipts, so an unread-only inbox reads only them."""
    (index,) = (i for i in schema.message_recipients.indexes if i.name == "ix_message_recipients_unread")
    index.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables", _create_core_tables),
    Migration(2, "full-text index on subject and body", _create_fts),
    Migration(3, "content-addressed attachment blobs", _create_attachment_blobs),
    Migration(4, "stored message summaries", _create_message_summaries),
    Migration(5, "window identities", _create_window_identities),
    Migration(6, "archive outbox failure tracking", _add_outbox_failures),
    Migration(7, "full-text index on PostgreSQL", _create_pg_search),
    Migration(8, "notifications of new mail on PostgreSQL", _create_mail_notifications),
    Migration(9, "client message ids for exactly-once sends", _create_client_sends),
    Migration(10, "search folding skips ASCII text on PostgreSQL", _fold_ascii_fast),
    Migration(11, "search index without a pending list on PostgreSQL", _search_index_without_pending_list),
    Migration(12, "index of unread receipts", _index_unread_receipts),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """Return the highest applied migration number (0 for an empty database)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(
        select(schema.schema_version.c.version).order_by(schema.schema_version.c.version.desc()).limit(1)
    ).scalar()
    return int(value or 0)


def migrate(conn: Connection) -> list[int]:
    """Apply every pending migration on ``conn`` (inside its transaction); return those applied."""
    schema.metadata.create_all(conn, tables=[schema.schema_version])
    done = current_version(conn)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version <= done:
            continue
        migration.apply(conn)
        conn.execute(
            schema.schema_version.insert().values(version=migration.version, name=migration.name, applied_ts=utcnow())
        )
        applied.append(migration.version)
    return applied


def rebuild_fts(conn: Connection) -> None:
    """Rebuild the full-text index from the messages table (recreating it when it is gone)."""
    fulltext.rebuild(conn)
