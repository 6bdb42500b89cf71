"""What differs between SQLite and PostgreSQL for the engines, in one small interface.

Writers of one mailbox must take turns across processes (and, on PostgreSQL,
across machines): a write transaction starts the way SQLite's ``BEGIN IMMEDIATE``
does, holding the database's single write lock until COMMIT, so reads made
inside it see every earlier write and no two writers interleave.

- SQLite: ``BEGIN IMMEDIATE``, with WAL and the connection pragmas set on
  connect; writers of this project first queue on a lock file beside the
  database (:mod:`.writer_lock`) so a waiting writer starts the moment the last
  one commits.
- PostgreSQL: ``BEGIN`` then ``pg_advisory_xact_lock`` on one key of the
  database (one simple query on the writers' engine, whose connections leave
  BEGIN to us), waited for at most the busy timeout (``lock_timeout``, set when
  the connection opens); PostgreSQL frees it at COMMIT or ROLLBACK, and when a
  connection drops. Pools ping a connection that sat idle before handing it out,
  and a dropped connection in steady use fails one statement and makes the pool
  start afresh, so requests recover by themselves after a restart.

Besides the write lock there are named database-wide locks held across
transactions (the archive writer's, see ``DialectRules.named_lock``): a PostgreSQL
session-level advisory lock on a connection of its own, which the server frees
when the holder's connection goes, so a killed holder never blocks the others.
SQLite lives on one machine, where the file locks beside the data already do
that job.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InvalidRequestError
from sqlalchemy.pool import NullPool

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.backend_url import Dialect, parse_database_url, sqlite_path_from_url
from mcp_agent_mail.db.sqlite_facts import set_connection_pragmas
from mcp_agent_mail.db.writer_lock import cross_process_writer

IMMEDIATE = "mcp_agent_mail_immediate"
"""Execution option: begin the transaction holding the database's write lock."""

CONNECT_TIMEOUT_S = 10
_FIRST_POLL_S = 0.01
_MAX_POLL_S = 0.25
IDLE_PING_AFTER_S = 2.0
"""A PostgreSQL connection idle in the pool this long is pinged before it is handed out again."""
_IDLE_SINCE = "mcp_agent_mail_idle_since"


def lock_key(name: str) -> int:
    """Return the signed 64-bit advisory-lock key of a lock name (the same in every process and version)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


WRITER_LOCK_KEY = lock_key("mcp-agent-mail/writers")
"""The PostgreSQL advisory lock every write transaction holds."""
_TAKE_WRITE_LOCK = f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})"
_BEGIN_LOCKED = f"BEGIN; {_TAKE_WRITE_LOCK}"
_HOOK_BEGINS = "mcp_agent_mail_hook_begins"  # execution option: the driver autocommits, the begin hook sends BEGIN


class HeldLock(Protocol):
    """A named lock held for a block."""

    def confirm(self) -> None:
        """Raise when the lock may have been lost (its connection is gone); return quietly while it is held."""


class _Always:
    """A lock that cannot be lost (SQLite: the file locks beside the data do the work)."""

    def confirm(self) -> None:
        """Return: nothing to lose."""


class DialectRules(Protocol):
    """The per-dialect part of the engines."""

    name: Dialect

    def engine_options(self, settings: Settings, *, pool_size: int | None, max_overflow: int = 0) -> dict[str, Any]:
        """Return ``create_engine`` keyword arguments (``pool_size=None``: the maintenance engine)."""

    def snapshot_options(self) -> dict[str, Any]:
        """Return the extra engine options under which every read transaction sees one snapshot."""

    def writer_options(self) -> dict[str, Any]:
        """Return the extra engine options of the engine that runs only write transactions."""

    def statement_read_options(self) -> dict[str, Any]:
        """Return the connection options of a read whose statements need not share one snapshot."""

    def install(self, engine: Engine, settings: Settings) -> None:
        """Install the connect and begin hooks on a (sync or async's sync) engine."""

    def writers_queue(self, settings: Settings) -> contextlib.AbstractContextManager[bool]:
        """Return the context that queues this process behind other writers before a write begins."""

    def named_lock(
        self, engine: Callable[[], Engine], name: str, timeout: float
    ) -> contextlib.AbstractContextManager[HeldLock | None]:
        """Hold database-wide lock ``name`` for the block (None: not taken within ``timeout`` seconds)."""

    def named_lock_holder(self, engine: Callable[[], Engine], name: str) -> str | None:
        """Describe who holds lock ``name`` now ("" when nobody; None when the database has no such locks)."""


class SqliteRules:
    """SQLite: WAL and pragmas on connect, ``BEGIN IMMEDIATE`` for writes, a lock file queueing writers."""

    name: Dialect = "sqlite"

    def engine_options(self, settings: Settings, *, pool_size: int | None, max_overflow: int = 0) -> dict[str, Any]:
        """Return engine options: no pool for the maintenance engine, thread-shared connections otherwise."""
        if pool_size is None:
            return {"poolclass": NullPool}
        return {"pool_size": pool_size, "max_overflow": max_overflow, "connect_args": {"check_same_thread": False}}

    def snapshot_options(self) -> dict[str, Any]:
        """Return nothing: in WAL mode a read transaction keeps the snapshot of its first read."""
        return {}

    def writer_options(self) -> dict[str, Any]:
        """Return nothing: ``BEGIN IMMEDIATE`` already takes the lock as it begins."""
        return {}

    def statement_read_options(self) -> dict[str, Any]:
        """Return nothing: a deferred BEGIN costs no round trip in a database that lives in the process."""
        return {}

    def install(self, engine: Engine, settings: Settings) -> None:
        """Set the pragmas on each new connection and issue BEGIN (IMMEDIATE for writes) ourselves."""
        busy_timeout_ms = settings.database.busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            set_connection_pragmas(dbapi_connection, busy_timeout_ms=busy_timeout_ms)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get(IMMEDIATE, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # may meet a busy lock: SQLAlchemy wraps the error
                return
            raw = conn.connection.dbapi_connection
            if isinstance(raw, sqlite3.Connection):
                raw.execute("BEGIN")  # a deferred BEGIN takes no lock, so it cannot fail on one
            else:
                conn.exec_driver_sql("BEGIN")

    def writers_queue(self, settings: Settings) -> contextlib.AbstractContextManager[bool]:
        """Queue on the lock file beside the database file (up to the busy timeout)."""
        path = sqlite_path_from_url(settings.database.url)
        return cross_process_writer(path, settings.database.busy_timeout_ms / 1000)

    @contextlib.contextmanager
    def named_lock(self, engine: Callable[[], Engine], name: str, timeout: float) -> Iterator[HeldLock | None]:
        """Yield a lock that is always held: one machine, where the caller's file lock decides."""
        yield _Always()

    def named_lock_holder(self, engine: Callable[[], Engine], name: str) -> str | None:
        """Return None: the file locks beside the data say who holds what."""
        return None


class _PgSessionLock:
    """A session-level advisory lock held on its own connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def confirm(self) -> None:
        """Raise (a DBAPIError) when the holding connection is gone, and with it the lock."""
        self._conn.exec_driver_sql("SELECT 1").scalar()


class PostgresRules:
    """PostgreSQL: an advisory transaction lock for writes, pinged pools, advisory session locks for named locks."""

    name: Dialect = "postgresql"

    def engine_options(self, settings: Settings, *, pool_size: int | None, max_overflow: int = 0) -> dict[str, Any]:
        """Return engine options: pool sizes, a connect timeout and the lock wait limit set at connect."""
        options: dict[str, Any] = {}
        if pool_size is None:
            options.update(pool_size=2, max_overflow=max(settings.database.pool_size, 2))
        else:
            options.update(pool_size=pool_size, max_overflow=max_overflow)
        query = make_url(parse_database_url(settings.database.url).sync_url).query
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        # Every lock wait of the session (the writers' advisory lock above all) gives up after
        # the busy timeout; set once in the startup packet instead of once per transaction.
        given = query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        lock_wait = f"-c lock_timeout={max(int(settings.database.busy_timeout_ms), 1)}"
        connect_args["options"] = f"{given} {lock_wait}".strip()
        options["connect_args"] = connect_args
        return options

    def snapshot_options(self) -> dict[str, Any]:
        """Return REPEATABLE READ (READ COMMITTED, the default, takes a new snapshot per statement)."""
        return {"isolation_level": "REPEATABLE READ"}

    def writer_options(self) -> dict[str, Any]:
        """Return AUTOCOMMIT at the driver: the begin hook sends BEGIN with the write lock, one round trip."""
        return {"isolation_level": "AUTOCOMMIT", "execution_options": {_HOOK_BEGINS: True}}

    def statement_read_options(self) -> dict[str, Any]:
        """Return AUTOCOMMIT: each statement is a transaction of its own, with no BEGIN or COMMIT to send."""
        return {"isolation_level": "AUTOCOMMIT"}

    def install(self, engine: Engine, settings: Settings) -> None:
        """Make a write transaction take the database's write lock right after BEGIN; ping connections left idle.

        A many-row INSERT goes as one statement with many VALUES rows (as SQLAlchemy does for
        psycopg2) instead of psycopg's ``executemany``, whose pipeline spins on the socket while
        it waits for the server.
        """
        engine.dialect.use_insertmanyvalues_wo_returning = True

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            immediate = options.get(IMMEDIATE, False)
            if options.get(_HOOK_BEGINS, False):
                # The writers' engine leaves BEGIN to us: BEGIN and the lock go in one round trip
                # (a simple query may hold several statements); psycopg's COMMIT ends it as usual.
                conn.exec_driver_sql(_BEGIN_LOCKED if immediate else "BEGIN")
            elif immediate:
                conn.exec_driver_sql(_TAKE_WRITE_LOCK)

        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            record.info[_IDLE_SINCE] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            # A connection in steady use needs no ping: a dropped one fails its statement and
            # the pool starts afresh. One that sat idle may have outlived a server restart.
            idle_since = record.info.get(_IDLE_SINCE)
            if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER_S:
                return
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise DisconnectionError("the idle connection is gone") from exc

    def writers_queue(self, settings: Settings) -> contextlib.AbstractContextManager[bool]:
        """Return a no-op: the advisory lock taken at BEGIN already queues writers in the server."""
        return contextlib.nullcontext(True)

    @contextlib.contextmanager
    def named_lock(self, engine: Callable[[], Engine], name: str, timeout: float) -> Iterator[HeldLock | None]:
        """Poll ``pg_try_advisory_lock`` on a connection of its own until taken or ``timeout`` passes."""
        key = lock_key(name)
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = _FIRST_POLL_S
        with engine().connect() as base:
            conn = base.execution_options(isolation_level="AUTOCOMMIT")
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
                left = deadline - time.monotonic()
                if left <= 0:
                    yield None
                    return
                time.sleep(min(pause, left))
                pause = min(pause * 2, _MAX_POLL_S)
            try:
                yield _PgSessionLock(conn)
            finally:
                try:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                except (DBAPIError, InvalidRequestError):
                    # The connection is gone and the lock with it; never hand it back to the pool.
                    with contextlib.suppress(Exception):
                        base.invalidate()

    def named_lock_holder(self, engine: Callable[[], Engine], name: str) -> str | None:
        """Return the holder's application name, client address and backend pid ("" when nobody holds it)."""
        unsigned = lock_key(name) & 0xFFFF_FFFF_FFFF_FFFF
        with engine().connect() as conn:
            row = conn.execute(
                text(
                    "SELECT a.application_name, a.client_addr, l.pid FROM pg_locks l"
                    " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.database = ("
                    "SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
                ),
                {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF},
            ).first()
        if row is None:
            return ""
        application, address, pid = row
        return f"{application or 'a client'} at {address or 'a local socket'} (backend pid {pid})"


_RULES: dict[Dialect, DialectRules] = {"sqlite": SqliteRules(), "postgresql": PostgresRules()}


def rules_for(url: str) -> DialectRules:
    """Return the rules of the database ``url`` names."""
    return _RULES[parse_database_url(url).dialect]


__all__ = [
    "IMMEDIATE",
    "WRITER_LOCK_KEY",
    "DialectRules",
    "HeldLock",
    "PostgresRules",
    "SqliteRules",
    "lock_key",
    "rules_for",
]
