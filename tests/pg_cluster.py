"""Pytest plugin: with MCP_AGENT_MAIL_TEST_BACKEND=postgresql, tests run on a private, throwaway PostgreSQL cluster.

Without that variable nothing here starts and the suite runs on SQLite. With it, the first test that needs a
database starts one cluster for the session (``initdb`` in a temporary directory, as the ``postgres`` user when
the tests run as root, listening on 127.0.0.1 and a free port), each test gets a fresh database of its own,
and the cluster is stopped and its directory removed at the end, even when tests fail or the run is interrupted.
A test's database (``pg_database_url``, hence ``isolated_env``) is a copy of a template that the current code's
migrations built once per run, so the schema is not rebuilt for every test; a test about creating or upgrading
the schema is marked ``bare_database`` and gets an empty one, as do the servers' ``new_database_url``.
Tests marked ``sqlite_only`` are skipped on PostgreSQL, and so are the node ids in ``SQLITE_ONLY_NODES``
(tests that may not be edited to carry the marker). Tests that start their own servers take their database URLs
from the ``new_database_url`` fixture, which follows the run's backend.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

BACKEND_ENV = "MCP_AGENT_MAIL_TEST_BACKEND"
BACKENDS = ("sqlite", "postgresql")
SUPERUSER = "postgres"
ROLE = "mcp_agent_mail"
ROLE_PASSWORD = "mcp_agent_mail"
RUN_DATABASE = "mcp_agent_mail"
START_ATTEMPTS = 3
COMMAND_TIMEOUT_S = 120
MIGRATED = "migrated"  # kinds of test database: a copy of the migrated template, or empty
BARE = "bare"
# Made ahead by a background thread, so a test does not wait for CREATE DATABASE (bare ones are rarely asked for).
SPARE_DATABASES = {MIGRATED: 2, BARE: 1}
TEMPLATE_DATABASE = "migrated_template"
BARE_MARKER = "bare_database"


def selected_backend() -> str:
    """Return the database backend this test run uses: ``sqlite`` (the default) or ``postgresql``."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    return value or "sqlite"


def on_postgresql() -> bool:
    """Return True when this test run uses the PostgreSQL backend."""
    return selected_backend() == "postgresql"


def find_pg_bindir() -> Path | None:
    """Return the directory of the newest installed PostgreSQL server binaries, or None when there are none."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bindir: _version_key(bindir.parent.name),
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One private PostgreSQL cluster in a temporary directory, with a role and a database per test."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        # Tests trade durability for speed; benchmarks keep PostgreSQL's defaults (fsync on every commit).
        self.durable = durable
        self.root: Path | None = None
        self.port = 0
        self._counter = 0
        self._running = False
        self._as_postgres = os.geteuid() == 0
        # Databases are made ahead and dropped behind by one background thread, off the tests' critical path.
        self._work = threading.Condition()
        self._spare: dict[str, list[str]] = {kind: [] for kind in SPARE_DATABASES}
        self._template_lock = threading.Lock()
        self._template_ready = False
        self._create_options = ""
        self._to_drop: list[str] = []
        self._in_flight = 0
        self._stopping = False
        self._worker: threading.Thread | None = None

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        assert self.root is not None, "cluster not started"
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """The server log (kept until the directory is removed)."""
        assert self.root is not None, "cluster not started"
        return self.root / "server.log"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        return subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT_S
        )

    def start(self) -> None:
        """Create the cluster, start it on a free local port, and create the run's role and database."""
        atexit.register(self.stop)
        self.root = Path(tempfile.mkdtemp(prefix="mcp-agent-mail-pg-"))
        if self._as_postgres:
            owner = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        done = self._run(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            options = " ".join(
                shlex.quote(option)
                for option in (
                    "-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", str(self.root),
                    "-c", "max_connections=300",
                    *(() if self.durable else ("-c", "fsync=off", "-c", "synchronous_commit=off",
                                               "-c", "full_page_writes=off")),
                )
            )  # fmt: skip
            done = self._run(
                "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "-o", options
            )
            if done.returncode == 0:
                self._running = True
                break
        else:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()}\n{self._log_tail()}")
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'")
            conn.execute(f"CREATE DATABASE {RUN_DATABASE} OWNER {ROLE} TEMPLATE template0")
            version = int(conn.execute("SHOW server_version_num").fetchone()[0])
        # Copying files beats replaying them through the WAL when nothing is synced (PostgreSQL 15 and later).
        self._create_options = " STRATEGY FILE_COPY" if version >= 150000 and not self.durable else ""

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def stop(self, *, remove: bool = True) -> None:
        """Stop the server at once and remove its directory (unless ``remove`` is False); safe to call again."""
        self._stop_worker()
        if self._running:
            self._running = False
            done = self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30")
            if done.returncode != 0:
                self._kill_postmaster()
        if self.root is not None:
            if remove:
                shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def postmaster_pid(self) -> int:
        """Return the running server's process id."""
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def url(self, database: str, *, driver: str = "postgresql+psycopg") -> str:
        """Return the SQLAlchemy URL of ``database`` for the run's role."""
        return f"{driver}://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str) -> str:
        """Return a libpq connection string for ``database`` as the run's role (for plain psycopg)."""
        return f"host=127.0.0.1 port={self.port} user={ROLE} password={ROLE_PASSWORD} dbname={database}"

    @contextlib.contextmanager
    def admin(self) -> Iterator[Any]:
        """Yield an autocommit superuser connection to the ``postgres`` database."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True, connect_timeout=10
        ) as conn:
            yield conn

    def _next_name(self) -> str:
        with self._work:
            self._counter += 1
            return f"test_{self._counter}"

    def _create_now(self, name: str, kind: str = BARE) -> None:
        if kind == MIGRATED:
            self._ensure_template()
            template = f"{TEMPLATE_DATABASE}{self._create_options}"
        else:
            template = "template0"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {ROLE} TEMPLATE {template}")

    def _ensure_template(self) -> None:
        """Build the template once: an empty database that the current code's migrations brought up to date."""
        with self._template_lock:
            if self._template_ready:
                return
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            from mcp_agent_mail.db.migrations import migrate

            with self.admin() as conn:  # (left half-made when a migration failed before)
                conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE}")
                conn.execute(f"CREATE DATABASE {TEMPLATE_DATABASE} OWNER {ROLE} TEMPLATE template0")
            engine = create_engine(self.url(TEMPLATE_DATABASE), poolclass=NullPool)
            try:
                with engine.begin() as conn:
                    migrate(conn)
            finally:
                engine.dispose()
            with self.admin() as conn:  # a template nobody can connect to stays exactly as migrated
                conn.execute(f"ALTER DATABASE {TEMPLATE_DATABASE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
            self._template_ready = True

    def _drop_now(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _ensure_worker(self) -> None:
        with self._work:
            if self._worker is None and not self._stopping:
                self._worker = threading.Thread(target=self._housekeep, name="pg-databases", daemon=True)
                self._worker.start()

    def _wanted(self) -> str | None:
        """Return the kind of spare database the pool is short of, if any (call with ``_work`` held)."""
        return next((kind for kind, target in SPARE_DATABASES.items() if len(self._spare[kind]) < target), None)

    def _housekeep(self) -> None:
        """Keep SPARE_DATABASES ready and drop finished tests' databases, until stopped."""
        while True:
            with self._work:
                self._work.wait_for(lambda: self._stopping or bool(self._to_drop) or self._wanted() is not None)
                if self._stopping:
                    return
                kind = self._wanted()
                drop = None if kind is not None else self._to_drop.pop()
                self._in_flight += 1
            try:
                if kind is not None:
                    name = self._next_name()
                    self._create_now(name, kind)
                    with self._work:
                        self._spare[kind].append(name)
                elif drop is not None:
                    self._drop_now(drop)
            except Exception:
                if kind is not None:  # cannot make spares (the server is going away): stop trying
                    with self._work:
                        self._stopping = True
            finally:
                with self._work:
                    self._in_flight -= 1
                    self._work.notify_all()

    def _stop_worker(self) -> None:
        with self._work:
            self._stopping = True
            self._work.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout=30)

    def create_database(self, *, migrated: bool = False) -> str:
        """Return a new database owned by the run's role: empty, or holding the current schema when ``migrated``.

        Spares made ahead by the background thread are handed out first.
        """
        kind = MIGRATED if migrated else BARE
        self._ensure_worker()
        with self._work:
            if self._spare[kind]:
                name = self._spare[kind].pop(0)
                self._work.notify_all()
                return name
        name = self._next_name()
        self._create_now(name, kind)
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name`` in the background, ending any connection a test left open to it."""
        with self._work:
            if self._worker is None or self._stopping:
                queued = False
            else:
                self._to_drop.append(name)
                self._work.notify_all()
                queued = True
        if not queued:
            self._drop_now(name)

    def settle(self) -> None:
        """Wait (up to 60 s) until every queued drop has run."""
        with self._work:
            self._work.wait_for(lambda: not self._to_drop and self._in_flight == 0, timeout=60)

    def databases(self) -> set[str]:
        """Return the names of the cluster's non-template databases (after queued drops), spares left out."""
        self.settle()
        with self._work:
            spare = {name for names in self._spare.values() for name in names}
        with self.admin() as conn:
            return {row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")} - spare


def _interrupt_on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt so pytest tears the session down; return the previous handler."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, handler)
    return previous


def pytest_configure(config: pytest.Config) -> None:
    """Refuse an unknown backend name before anything runs; declare the ``bare_database`` marker."""
    if selected_backend() not in BACKENDS:
        raise pytest.UsageError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, not {selected_backend()!r}")
    config.addinivalue_line(
        "markers",
        f"{BARE_MARKER}: on PostgreSQL the test's database (pg_database_url, isolated_env) starts empty instead of "
        "migrated, for tests about creating or upgrading the schema",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which database backend the run uses when it is not the default."""
    if on_postgresql():
        return f"database backend: postgresql (private cluster from {find_pg_bindir()})"
    return None


# Tests that are SQLite-only by nature but are not to be edited (node id prefix -> reason).
# The disaster-recovery acceptance test simulates the disaster by deleting the SQLite file it finds with
# resolve_sqlite_database_path; its archive-only test runs on both backends.
_DISASTER = "tests/test_e2e_disaster_recovery.py"
_DELETES_THE_SQLITE_FILE = "deletes the mailbox's SQLite file (resolve_sqlite_database_path) as its disaster"
SQLITE_ONLY_NODES: dict[str, str] = {
    f"{_DISASTER}::TestDisasterRecoveryE2E::test_complete_disaster_recovery_scenario": _DELETES_THE_SQLITE_FILE,
    f"{_DISASTER}::TestPartialRecovery::test_restore_to_empty_environment": _DELETES_THE_SQLITE_FILE,
    f"{_DISASTER}::TestMultipleArchives::test_restore_specific_archive": _DELETES_THE_SQLITE_FILE,
    f"{_DISASTER}::TestStorageRepoIntegrity::test_git_archive_intact_after_restore": _DELETES_THE_SQLITE_FILE,
}


def _sqlite_only_reason(item: pytest.Item) -> str | None:
    if item.get_closest_marker("sqlite_only"):
        return "SQLite-only by nature"
    for prefix, reason in SQLITE_ONLY_NODES.items():
        if item.nodeid == prefix or item.nodeid.startswith((f"{prefix}::", f"{prefix}[")):
            return reason
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``sqlite_only`` tests (or those in ``SQLITE_ONLY_NODES``) and ``backend_agnostic`` ones on PostgreSQL."""
    if not on_postgresql():
        return
    for item in items:
        reason = _sqlite_only_reason(item)
        if reason is None and item.get_closest_marker("backend_agnostic") is not None:
            reason = "backend-agnostic: runs in the SQLite pass"
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"{reason} ({BACKEND_ENV}=postgresql)"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The session's private PostgreSQL cluster (only when the run uses PostgreSQL)."""
    if not on_postgresql():
        pytest.skip(f"needs {BACKEND_ENV}=postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.exit(f"{BACKEND_ENV}=postgresql needs psycopg: pip install 'psycopg[binary]>=3.2'", returncode=4)
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.exit(
            f"{BACKEND_ENV}=postgresql needs the PostgreSQL server binaries (Debian: apt-get install postgresql)",
            returncode=4,
        )
    cluster = PgCluster(bindir)
    previous = _interrupt_on_sigterm()
    try:
        try:
            cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            pytest.exit(f"could not start a private PostgreSQL cluster: {exc}", returncode=4)
        yield cluster
    finally:
        cluster.stop()
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def pg_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A fresh PostgreSQL database URL for one test (dropped after it), or None when the run uses SQLite.

    The database already holds the current schema, as the application would have made it on first use; a test
    marked ``bare_database`` gets an empty one.
    """
    if not on_postgresql():
        yield None
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database(migrated=request.node.get_closest_marker(BARE_MARKER) is None)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


class DatabaseUrls:
    """Makes fresh, empty database URLs on the run's backend and drops the PostgreSQL databases it made."""

    def __init__(self, cluster: PgCluster | None) -> None:
        self.cluster = cluster
        self.made: list[str] = []

    def __call__(self, sqlite_file: Path) -> str:
        """Return ``sqlite+aiosqlite:///<sqlite_file>`` on SQLite, else the URL of a new database of the cluster."""
        if self.cluster is None:
            return f"sqlite+aiosqlite:///{sqlite_file}"
        name = self.cluster.create_database()
        self.made.append(name)
        return self.cluster.url(name)

    def drop_all(self) -> None:
        """Drop every database made so far."""
        while self.made and self.cluster is not None:
            self.cluster.drop_database(self.made.pop())


def _database_urls(request: pytest.FixtureRequest) -> DatabaseUrls:
    return DatabaseUrls(request.getfixturevalue("pg_cluster") if on_postgresql() else None)


@pytest.fixture
def new_database_url(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], str]]:
    """A factory of fresh, empty database URLs on the run's backend, for tests that start their own servers.

    ``new_database_url(path)`` returns ``sqlite+aiosqlite:///<path>`` on SQLite, and on PostgreSQL the URL of a
    new database of the session's cluster (``path`` unused); every database it made is dropped after the test.
    """
    urls = _database_urls(request)
    yield urls
    urls.drop_all()


@pytest.fixture(scope="session")
def session_database_url(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], str]]:
    """Like ``new_database_url``, for module- or session-scoped servers (databases dropped at the end of the run)."""
    urls = _database_urls(request)
    yield urls
    urls.drop_all()
