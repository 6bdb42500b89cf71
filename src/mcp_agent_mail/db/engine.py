"""Engines and sessions: one async engine for services, one sync engine for maintenance.

SQLite runs in WAL mode with foreign keys on and a bounded busy timeout. Every
write transaction starts with ``BEGIN IMMEDIATE`` (so two processes never
deadlock upgrading a read lock), and inside one process writes are serialised
by an asyncio lock: one write path, as in datasette. A PostgreSQL URL opens
psycopg 3 instead; :mod:`.backend_url` says which URLs are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from mcp_agent_mail.config import Settings, clear_settings_cache, get_settings
from mcp_agent_mail.db.backend_url import database_backend, parse_database_url
from mcp_agent_mail.db.group_commit import GroupCommitWriter
from mcp_agent_mail.db.migrations import migrate
from mcp_agent_mail.db.restore_journal import finish_interrupted_restore, journal_path
from mcp_agent_mail.db.sqlite_facts import set_connection_pragmas
from mcp_agent_mail.db.thread_pool import LoopThreadPool
from mcp_agent_mail.db.writer_lock import cross_process_writer
from mcp_agent_mail.errors import AgentMailError, ConfigurationError, InvalidArgumentError, UnavailableError

_IMMEDIATE = "mcp_agent_mail_immediate"
_READ_THREADS = 4
_BUSY_TEXTS = ("database is locked", "database table is locked", "database is busy")


class _State:
    """Process-wide lazily created engines (reset by :func:`reset_database_state`)."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.async_engine: AsyncEngine | None = None
        self.sync_engine: Engine | None = None
        self.session_factory: async_sessionmaker[AsyncSession] | None = None
        self.schema_ready_for: str | None = None
        self.write_locks: dict[int, asyncio.Lock] = {}
        self.write_engine: Engine | None = None
        self.read_engine: Engine | None = None
        # Threads that run read transactions, one per pooled read connection (recreated after a fork).
        self.guard = threading.Lock()
        # Held by whichever writer of this process is inside BEGIN IMMEDIATE (any loop or thread).
        self.process_write_lock = threading.Lock()


_state = _State()


def sqlite_path_from_url(url: str) -> Path | None:
    """Return the database file of a SQLite URL (None for other backends or memory)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if not database or database == ":memory:":
        return None
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    return path


@functools.lru_cache(maxsize=16)
def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).drivername.startswith("sqlite")


def _sync_url(url: str) -> str:
    return parse_database_url(url).sync_url


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        set_connection_pragmas(dbapi_connection, busy_timeout_ms=busy_timeout_ms)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_IMMEDIATE, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # may meet a busy lock: SQLAlchemy wraps the error
            return
        raw = conn.connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):
            raw.execute("BEGIN")  # a deferred BEGIN takes no lock, so it cannot fail on one
        else:
            conn.exec_driver_sql("BEGIN")


def _prepare_sqlite_file(url: str) -> None:
    path = sqlite_path_from_url(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
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
            engine = create_engine(_sync_url(url), poolclass=NullPool, echo=settings.database.echo)
            if is_sqlite(url):
                _install_sqlite_hooks(engine, settings.database.busy_timeout_ms)
            _state.sync_engine = engine
        return _state.sync_engine


def _pooled_engine(settings: Settings, slot: str, pool_size: int, max_overflow: int) -> Engine:
    """Return (creating once) the pooled synchronous engine kept in ``_state.<slot>``, for worker threads."""
    with _state.guard:
        _check_url(settings.database.url)
        engine: Engine | None = getattr(_state, slot)
        if engine is None:
            url = settings.database.url
            _prepare_sqlite_file(url)
            kwargs: dict[str, Any] = {
                "echo": settings.database.echo,
                "pool_size": pool_size,
                "max_overflow": max_overflow,
            }
            if is_sqlite(url):
                kwargs.update(connect_args={"check_same_thread": False})
            engine = create_engine(_sync_url(url), **kwargs)
            if is_sqlite(url):
                _install_sqlite_hooks(engine, settings.database.busy_timeout_ms)
            setattr(_state, slot, engine)
        return engine


def _get_write_engine(settings: Settings) -> Engine:
    """Return the pooled synchronous engine that runs whole write transactions in worker threads."""
    return _pooled_engine(settings, "write_engine", pool_size=2, max_overflow=2)


def _get_read_engine(settings: Settings) -> Engine:
    """Return the pooled synchronous engine that runs whole read transactions in worker threads."""
    return _pooled_engine(settings, "read_engine", pool_size=_READ_THREADS, max_overflow=0)


def get_engine(settings: Settings | None = None) -> AsyncEngine:
    """Return the async engine used by services."""
    settings = settings or get_settings()
    with _state.guard:
        _check_url(settings.database.url)
        if _state.async_engine is None:
            url = settings.database.url
            _prepare_sqlite_file(url)
            kwargs: dict[str, Any] = {
                "echo": settings.database.echo,
                "pool_pre_ping": False,
                "pool_size": settings.database.pool_size,
                "max_overflow": 2,
                "pool_timeout": 30,
            }
            engine = create_async_engine(parse_database_url(url).async_url, **kwargs)
            if is_sqlite(url):
                _install_sqlite_hooks(engine.sync_engine, settings.database.busy_timeout_ms)
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
    with engine.connect() as conn:
        conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            migrate(conn)
    _state.schema_ready_for = settings.database.url


def _session_factory() -> async_sessionmaker[AsyncSession]:
    settings = get_settings()
    get_engine(settings)
    ensure_schema(settings)
    assert _state.session_factory is not None
    return _state.session_factory


def database_error(exc: BaseException) -> AgentMailError | None:
    """Return the coded error for a failure caused by the caller's input or a busy database, else None."""
    if isinstance(exc, OverflowError):
        return InvalidArgumentError(
            "A number in the arguments is out of range (the database holds signed 64-bit integers).",
            hint="Pass ids and counts as returned by the server; they are positive and below 2**63.",
        )
    return busy_error(exc)


def busy_error(exc: BaseException) -> UnavailableError | None:
    """Return an UNAVAILABLE error for a "database is locked/busy" failure, None for any other exception."""
    if not isinstance(exc, OperationalError):
        return None
    text = str(exc.orig if exc.orig is not None else exc).lower()
    if not any(busy in text for busy in _BUSY_TEXTS):
        return None
    return UnavailableError(
        "The database is busy: another process has held its write lock longer than the busy timeout.",
        hint="Nothing was changed; retry in a few seconds. If it persists, find the process holding the "
        "database open in a transaction (DATABASE_BUSY_TIMEOUT_MS sets how long calls wait).",
        data={"retryable": True},
    )


@contextlib.asynccontextmanager
async def get_session() -> AsyncIterator[AsyncSession]:
    """Yield a session for reads (and for callers that commit themselves)."""
    factory = _session_factory()
    async with factory() as session:
        try:
            yield session
        except (OperationalError, OverflowError) as exc:
            mapped = database_error(exc)
            if mapped is None:
                raise
            raise mapped from exc


def _write_lock() -> asyncio.Lock:
    loop_id = id(asyncio.get_running_loop())
    lock = _state.write_locks.get(loop_id)
    if lock is None:
        lock = asyncio.Lock()
        _state.write_locks[loop_id] = lock
    return lock


async def _acquire_process_lock() -> None:
    lock = _state.process_write_lock
    if lock.acquire(blocking=False):
        return
    waiter = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
    try:
        await asyncio.shield(waiter)
    except asyncio.CancelledError:
        # The thread still takes the lock; hand it back as soon as it does.
        waiter.add_done_callback(lambda f: lock.release() if not f.cancelled() and f.exception() is None else None)
        raise


@contextlib.asynccontextmanager
async def write_session() -> AsyncIterator[AsyncSession]:
    """Yield a session inside ``BEGIN IMMEDIATE``; commit on success, roll back on error."""
    factory = _session_factory()
    async with _write_lock():
        await _acquire_process_lock()
        try:
            async with factory() as session:
                try:
                    await session.connection(execution_options={_IMMEDIATE: True})
                    try:
                        yield session
                    except BaseException:
                        await session.rollback()
                        raise
                    await session.commit()
                except (OperationalError, OverflowError) as exc:
                    mapped = database_error(exc)
                    if mapped is None:
                        raise
                    raise mapped from exc
        finally:
            _state.process_write_lock.release()


T = TypeVar("T")


class _ImmediateSession:
    """The part of AsyncSession that services use, over a synchronous connection: every await completes at once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, params: Any = None, **_: Any) -> Any:
        """Execute a statement on the connection and return its result."""
        return self._conn.execute(statement, params)

    async def scalar(self, statement: Any, params: Any = None, **_: Any) -> Any:
        """Execute a statement and return the first column of its first row."""
        return self._conn.scalar(statement, params)

    async def scalars(self, statement: Any, params: Any = None, **_: Any) -> Any:
        """Execute a statement and return its first column."""
        return self._conn.scalars(statement, params)


def _run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends; refuse one that waits on real I/O."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    coro.close()
    raise RuntimeError("a threaded transaction awaited something other than its session")


_batch_settings: dict[str, Settings] = {}


@contextlib.contextmanager
def _immediate_transaction(engine: Engine, settings: Settings) -> Iterator[Connection]:
    """Hold the process write lock and the writers' lock file; yield a connection inside ``BEGIN IMMEDIATE``.

    Commits on a clean exit, rolls back on an error.
    """
    url = settings.database.url
    with (
        _state.process_write_lock,
        cross_process_writer(sqlite_path_from_url(url), settings.database.busy_timeout_ms / 1000),
        engine.connect() as raw,
    ):
        conn = raw.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextlib.contextmanager
def _write_batch(url: str) -> Iterator[Connection]:
    """Yield the group-commit writer's connection inside ``BEGIN IMMEDIATE``; commit on exit."""
    settings = _batch_settings[url]
    with _immediate_transaction(_get_write_engine(settings), settings) as conn:
        yield conn


_group_writer = GroupCommitWriter(_write_batch, _ImmediateSession, _run_to_end)


def write_batches() -> int:
    """Return how many write transactions the group-commit writer has run in this process."""
    return _group_writer.batches


async def run_write(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` as one write (``BEGIN IMMEDIATE`` ... commit) on the group-commit writer thread.

    ``work`` gets a session whose statements run synchronously on a pooled connection, so it
    may await only that session's ``execute``/``scalar``/``scalars``. Writes queued at the same
    time share one transaction, each inside its own savepoint (see :mod:`.group_commit`): a
    failing write is rolled back alone, and no result is returned before its COMMIT is durable.
    """
    settings = get_settings()
    get_engine(settings)
    ensure_schema(settings)
    _batch_settings[settings.database.url] = settings
    try:
        return cast(T, await _group_writer.submit(settings.database.url, work))
    except (OperationalError, OverflowError) as exc:
        mapped = database_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


_read_pool = LoopThreadPool(_READ_THREADS, "db-read")


def _read_in_thread(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = _get_read_engine(settings)
    with engine.connect() as conn, conn.begin():
        return _run_to_end(cast(Coroutine[Any, Any, T], work(cast(AsyncSession, _ImmediateSession(conn)))))


async def run_read(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one read transaction (deferred ``BEGIN``: one snapshot) in a worker thread.

    ``work`` gets a session whose statements run synchronously on a pooled connection, so it
    may await only that session's ``execute``/``scalar``/``scalars``. The event loop never
    waits on the database: a busy database holds up the worker thread alone.
    """
    settings = get_settings()
    ensure_schema(settings)
    try:
        return await _read_pool.run(functools.partial(_read_in_thread, settings, work))
    except (OperationalError, OverflowError) as exc:
        mapped = database_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


@contextlib.contextmanager
def sync_write_connection(settings: Settings | None = None) -> Iterator[Connection]:
    """Yield a synchronous connection inside ``BEGIN IMMEDIATE`` (commit on success).

    Holds the process write lock and the writers' lock file meanwhile, so it queues behind
    (instead of polling against) the other writers of the database.
    """
    settings = settings or get_settings()
    engine = get_sync_engine(settings)
    ensure_schema(settings)
    with _immediate_transaction(engine, settings) as conn:
        yield conn


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
    _state.write_locks.clear()
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
