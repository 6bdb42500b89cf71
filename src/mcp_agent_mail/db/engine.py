"""Engines and the two transaction paths: :func:`run_read` and :func:`run_write` for services.

Both run their work in a worker thread on a pooled synchronous connection (see
:mod:`.transactions`); a synchronous engine serves maintenance, and an async engine
serves :func:`get_session`, the AsyncSession helper kept for scripts and tests.

Every write transaction begins holding the database's one write lock (SQLite's
``BEGIN IMMEDIATE``; on PostgreSQL an advisory transaction lock, see
:mod:`.dialects`), so writers of every process and machine take turns and two
processes never deadlock upgrading a read lock; inside one process writes are
serialised by a lock of their own: one write path, as in datasette. SQLite runs
in WAL mode with foreign keys on and a bounded busy timeout; a PostgreSQL URL
opens psycopg 3 instead (:mod:`.backend_url` says which URLs are accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from mcp_agent_mail.config import Settings, clear_settings_cache, get_settings
from mcp_agent_mail.db.backend_url import database_backend, parse_database_url, sqlite_path_from_url
from mcp_agent_mail.db.dialects import IMMEDIATE, HeldLock, rules_for
from mcp_agent_mail.db.failures import DATABASE_FAILURES, busy_error, database_error, is_conflict
from mcp_agent_mail.db.group_commit import GroupCommitWriter
from mcp_agent_mail.db.migrations import migrate
from mcp_agent_mail.db.restore_journal import finish_interrupted_restore, journal_path
from mcp_agent_mail.db.thread_pool import LoopThreadPool
from mcp_agent_mail.db.transactions import ReadTransaction, ThreadTransaction, WriteTransaction
from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.fsutil import directory_problem

_IMMEDIATE = IMMEDIATE
_READ_THREADS = 4
# How often a write that PostgreSQL rolled back to break a deadlock or serialization conflict is run again.
CONFLICT_ATTEMPTS = 3


class _State:
    """Process-wide lazily created engines (reset by :func:`reset_database_state`)."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.async_engine: AsyncEngine | None = None
        self.sync_engine: Engine | None = None
        self.session_factory: async_sessionmaker[AsyncSession] | None = None
        self.schema_ready_for: str | None = None
        self.write_engine: Engine | None = None
        self.read_engine: Engine | None = None
        # Threads that run read transactions, one per pooled read connection (recreated after a fork).
        self.guard = threading.Lock()
        # Held by whichever writer of this process is inside BEGIN IMMEDIATE (any loop or thread).
        self.process_write_lock = threading.Lock()


_state = _State()


@functools.lru_cache(maxsize=16)
def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).drivername.startswith("sqlite")


def _sync_url(url: str) -> str:
    return parse_database_url(url).sync_url


DIRECTORY_HINT = "Point DATABASE_URL (or MCP_AGENT_MAIL_HOME) at a directory this user can write."
"""What to do when a SQLite database's folder cannot be used."""


def _prepare_sqlite_file(url: str) -> None:
    path = sqlite_path_from_url(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = directory_problem(path.parent) or f"cannot be created: {exc.strerror or exc}"
            raise ConfigurationError(f"The database's directory {path.parent} {problem}.", hint=DIRECTORY_HINT) from exc
        _finish_interrupted_restore(path)


def _finish_interrupted_restore(path: Path) -> None:
    """Before opening ``path``, finish or undo a restore that a crash interrupted (one stat when there is none)."""
    if journal_path(path).exists():
        finish_interrupted_restore(path)


def get_sync_engine(settings: Settings | None = None) -> Engine:
    """Return the synchronous engine (used by the archive writer, the CLI and doctor)."""
    settings = settings or get_settings()
    with _state.guard:
        _check_url(settings.database.url)
        if _state.sync_engine is None:
            url = settings.database.url
            _prepare_sqlite_file(url)
            rules = rules_for(url)
            options = rules.engine_options(settings, pool_size=None)
            engine = create_engine(_sync_url(url), echo=settings.database.echo, **options)
            rules.install(engine, settings)
            _state.sync_engine = engine
        return _state.sync_engine


def _pooled_engine(
    settings: Settings, slot: str, pool_size: int, max_overflow: int, *, snapshots: bool = False, writers: bool = False
) -> Engine:
    """Return (creating once) the pooled synchronous engine kept in ``_state.<slot>``, for worker threads."""
    with _state.guard:
        _check_url(settings.database.url)
        engine: Engine | None = getattr(_state, slot)
        if engine is None:
            url = settings.database.url
            _prepare_sqlite_file(url)
            rules = rules_for(url)
            options = rules.engine_options(settings, pool_size=pool_size, max_overflow=max_overflow)
            if snapshots:
                options.update(rules.snapshot_options())
            if writers:
                options.update(rules.writer_options())
            engine = create_engine(_sync_url(url), echo=settings.database.echo, **options)
            rules.install(engine, settings)
            setattr(_state, slot, engine)
        return engine


def _get_write_engine(settings: Settings) -> Engine:
    """Return the pooled synchronous engine that runs whole write transactions in worker threads."""
    return _pooled_engine(settings, "write_engine", pool_size=2, max_overflow=2, writers=True)


def _get_read_engine(settings: Settings) -> Engine:
    """Return the pooled synchronous engine that runs whole read transactions in worker threads."""
    return _pooled_engine(settings, "read_engine", pool_size=_READ_THREADS, max_overflow=0, snapshots=True)


def get_engine(settings: Settings | None = None) -> AsyncEngine:
    """Return the async engine used by services."""
    settings = settings or get_settings()
    with _state.guard:
        _check_url(settings.database.url)
        if _state.async_engine is None:
            url = settings.database.url
            _prepare_sqlite_file(url)
            rules = rules_for(url)
            options = rules.engine_options(settings, pool_size=settings.database.pool_size, max_overflow=2)
            engine = create_async_engine(
                parse_database_url(url).async_url, echo=settings.database.echo, pool_timeout=30, **options
            )
            rules.install(engine.sync_engine, settings)
            _state.async_engine = engine
            _state.session_factory = async_sessionmaker(engine, expire_on_commit=False)
        return _state.async_engine


def _check_url(url: str) -> None:
    """Accept ``url`` as the process's database, refusing (CONFIGURATION_ERROR) before anything opens it."""
    if _state.url == url:
        return
    database_backend(url)  # an unsupported URL or a missing driver stops here, with nothing opened
    if _state.url is not None:
        # Settings changed underneath us (tests, restore): start over on the new URL.
        _dispose_locked()
    _state.url = url


def ensure_schema(settings: Settings | None = None) -> None:
    """Create or upgrade the schema once per process (safe across processes)."""
    settings = settings or get_settings()
    if _state.schema_ready_for == settings.database.url:
        return
    engine = get_sync_engine(settings)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                migrate(conn)
    except DATABASE_FAILURES as exc:
        _raise_coded(exc, settings)
        raise
    _state.schema_ready_for = settings.database.url


def _raise_coded(exc: BaseException, settings: Settings) -> None:
    """Raise the coded error of a database failure (naming the server's address, never the URL); else return."""
    url = make_url(settings.database.url)
    server = f"{url.host}:{url.port or 5432}" if url.host else None
    mapped = database_error(exc, server=server)
    if mapped is not None:
        raise mapped from exc


def _session_factory() -> async_sessionmaker[AsyncSession]:
    settings = get_settings()
    get_engine(settings)
    ensure_schema(settings)
    assert _state.session_factory is not None
    return _state.session_factory


@contextlib.asynccontextmanager
async def get_session() -> AsyncIterator[AsyncSession]:
    """Yield an SQLAlchemy AsyncSession: the compatibility helper for scripts and tests, never for services.

    Services reach the database only through :func:`run_read` and :func:`run_write`; this
    session takes no write lock, so a caller that writes through it commits by itself.
    """
    settings = get_settings()
    factory = _session_factory()
    async with factory() as session:
        try:
            yield session
        except DATABASE_FAILURES as exc:
            _raise_coded(exc, settings)
            raise


T = TypeVar("T")


def _run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends; refuse one that waits on real I/O."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    coro.close()
    raise RuntimeError("a database transaction awaited something other than its session (execute/scalar/scalars)")


_batch_settings: dict[str, Settings] = {}


@contextlib.contextmanager
def _immediate_transaction(engine: Engine, settings: Settings) -> Iterator[Connection]:
    """Hold the process write lock and queue behind other writers; yield a connection holding the write lock.

    Commits on a clean exit, rolls back on an error.
    """
    with _state.process_write_lock, rules_for(settings.database.url).writers_queue(settings):
        raw = engine.connect()
        try:
            conn = raw.execution_options(**{_IMMEDIATE: True})
            try:
                transaction = conn.begin()
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The pooled connection was dropped (a server restart): nothing ran yet, so begin
                # once more on a fresh one.
                raw.close()
                raw = engine.connect()
                conn = raw.execution_options(**{_IMMEDIATE: True})
                transaction = conn.begin()
            with transaction:
                yield conn
        finally:
            raw.close()


@contextlib.contextmanager
def _write_batch(url: str) -> Iterator[Connection]:
    """Yield the group-commit writer's connection inside a write transaction; commit on exit."""
    settings = _batch_settings[url]
    with _immediate_transaction(_get_write_engine(settings), settings) as conn:
        yield conn


_group_writer = GroupCommitWriter(_write_batch, ThreadTransaction, _run_to_end)


def write_batches() -> int:
    """Return how many write transactions the group-commit writer has run in this process."""
    return _group_writer.batches


async def run_write(work: Callable[[WriteTransaction], Awaitable[T]]) -> T:
    """Run ``work`` as one write (holding the write lock ... commit) on the group-commit writer thread.

    This is the one write path of the services. ``work`` gets a :class:`WriteTransaction` whose
    statements run synchronously on a pooled connection, so it may await only that
    transaction's ``execute``/``scalar``/``scalars`` (anything else raises RuntimeError). Writes queued at the same
    time share one transaction, each inside its own savepoint (see :mod:`.group_commit`): a
    failing write is rolled back alone, and no result is returned before its COMMIT is durable.
    A write PostgreSQL rolled back to break a deadlock or serialization conflict runs again, up
    to :data:`CONFLICT_ATTEMPTS` times in all.
    """
    settings = get_settings()
    get_engine(settings)
    ensure_schema(settings)
    _batch_settings[settings.database.url] = settings
    attempt = 1
    while True:
        try:
            return cast(T, await _group_writer.submit(settings.database.url, work))
        except DATABASE_FAILURES as exc:
            if is_conflict(exc) and attempt < CONFLICT_ATTEMPTS:
                attempt += 1
                continue
            _raise_coded(exc, settings)
            raise


_read_pool = LoopThreadPool(_READ_THREADS, "db-read")


def _read_once(engine: Engine, options: dict[str, Any], work: Callable[[ReadTransaction], Awaitable[T]]) -> T:
    with engine.connect() as raw:
        conn = raw.execution_options(**options) if options else raw
        with conn.begin():
            return _run_to_end(cast(Coroutine[Any, Any, T], work(ThreadTransaction(conn, read_only=True))))


def _read_in_thread(settings: Settings, work: Callable[[ReadTransaction], Awaitable[T]], snapshot: bool = True) -> T:
    engine = _get_read_engine(settings)
    options = {} if snapshot else rules_for(settings.database.url).statement_read_options()
    try:
        return _read_once(engine, options, work)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    # The pooled connection was dropped (a server restart) and the pool starts afresh; a read
    # changed nothing, so it runs once more.
    return _read_once(engine, options, work)


async def run_read(work: Callable[[ReadTransaction], Awaitable[T]], *, snapshot: bool = True) -> T:
    """Run one read transaction (deferred ``BEGIN``: one snapshot) in a worker thread.

    This is the one read path of the services. ``work`` gets a :class:`ReadTransaction` whose
    statements run synchronously on a pooled connection, so it may await only that
    transaction's ``execute``/``scalar``/``scalars`` (anything else raises RuntimeError). The event loop never
    waits on the database: a busy database holds up the worker thread alone.

    ``snapshot=False`` is for work whose statements need not see one moment together (a single
    statement, or lookups that stand on their own): on a database server each statement is then
    its own transaction, which spares the round trips of BEGIN and COMMIT; SQLite reads as usual.
    """
    settings = get_settings()
    ensure_schema(settings)
    # The work sees the caller's context variables (what the caller already knows, see
    # services.identity.project_agent.remembered), as it would on the event loop.
    context = contextvars.copy_context()
    try:
        return await _read_pool.run(functools.partial(context.run, _read_in_thread, settings, work, snapshot))
    except DATABASE_FAILURES as exc:
        _raise_coded(exc, settings)
        raise


@contextlib.contextmanager
def sync_write_connection(settings: Settings | None = None) -> Iterator[Connection]:
    """Yield a synchronous connection inside a write transaction holding the write lock (commit on success).

    Holds the process write lock meanwhile (and on SQLite the writers' lock file), so it queues
    behind (instead of polling against) the other writers of the database.
    """
    settings = settings or get_settings()
    engine = get_sync_engine(settings)
    ensure_schema(settings)
    with _immediate_transaction(engine, settings) as conn:
        yield conn


@contextlib.contextmanager
def database_lock(name: str, timeout: float, settings: Settings | None = None) -> Iterator[HeldLock | None]:
    """Hold the database-wide lock ``name`` for the block, across processes and machines; None if busy.

    Waits up to ``timeout`` seconds. On PostgreSQL it is an advisory lock on a connection of its
    own, freed by the server when the holder dies; on SQLite (one machine) it is always granted
    and the caller's file lock decides.
    """
    chosen = settings or get_settings()
    with rules_for(chosen.database.url).named_lock(lambda: get_sync_engine(chosen), name, timeout) as held:
        yield held


def database_lock_holder(name: str, settings: Settings | None = None) -> str | None:
    """Describe who holds the database-wide lock ``name`` ("" nobody; None when the backend has no such locks)."""
    chosen = settings or get_settings()
    return rules_for(chosen.database.url).named_lock_holder(lambda: get_sync_engine(chosen), name)


@contextlib.contextmanager
def sync_read_connection(settings: Settings | None = None) -> Iterator[Connection]:
    """Yield a synchronous connection for reads."""
    settings = settings or get_settings()
    engine = get_sync_engine(settings)
    ensure_schema(settings)
    with engine.connect() as conn, conn.begin():
        yield conn


def _dispose_locked() -> None:
    async_engine = _state.async_engine
    sync_engine = _state.sync_engine
    write_engine = _state.write_engine
    read_engine = _state.read_engine
    _state.async_engine = None
    _state.sync_engine = None
    _state.write_engine = None
    _state.read_engine = None
    _state.session_factory = None
    _state.schema_ready_for = None
    if sync_engine is not None:
        sync_engine.dispose()
    if write_engine is not None:
        write_engine.dispose()
    if read_engine is not None:
        read_engine.dispose()
    if async_engine is not None:
        _dispose_async_engine(async_engine)


def _dispose_async_engine(engine: AsyncEngine) -> None:
    # Connections belong to whatever loop opened them; closing them from a helper
    # thread with its own loop works for aiosqlite and never blocks the caller's loop.
    def runner() -> None:
        with contextlib.suppress(Exception):
            asyncio.run(engine.dispose())

    thread = threading.Thread(target=runner, name="dispose-engine", daemon=True)
    thread.start()
    thread.join(timeout=5)


def reset_database_state() -> None:
    """Dispose every engine and forget the schema flag and cached settings."""
    with _state.guard:
        _dispose_locked()
        _state.url = None
    clear_settings_cache()


def require_sqlite_path(settings: Settings | None = None) -> Path:
    """Return the SQLite database file, or raise if the backend is not a SQLite file."""
    settings = settings or get_settings()
    path = sqlite_path_from_url(settings.database.url)
    if path is None:
        raise ConfigurationError(
            "This operation needs a SQLite database file; "
            f"DATABASE_URL uses {make_url(settings.database.url).drivername}.",
            hint="Point DATABASE_URL at a sqlite+aiosqlite:/// file.",
        )
    return path


__all__ = [
    "CONFLICT_ATTEMPTS",
    "DIRECTORY_HINT",
    "busy_error",
    "database_error",
    "database_lock",
    "database_lock_holder",
    "ensure_schema",
    "get_engine",
    "get_session",
    "get_sync_engine",
    "is_sqlite",
    "require_sqlite_path",
    "reset_database_state",
    "run_read",
    "run_write",
    "sqlite_path_from_url",
    "sync_read_connection",
    "sync_write_connection",
    "write_batches",
]
