"""The test-suite's PostgreSQL backend: a private cluster, a fresh database per test, and cleanup however a run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import ensure_schema, reset_database_state
from mcp_agent_mail.db.migrations import LATEST_VERSION
from pg_cluster import BACKEND_ENV, PgCluster, on_postgresql
from wait_kit import wait_until

TESTS_DIR = Path(__file__).resolve().parent
needs_postgresql = pytest.mark.skipif(not on_postgresql(), reason=f"needs {BACKEND_ENV}=postgresql")

_seen: dict[str, str] = {}


def _connect(url: str) -> Any:
    import psycopg

    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        connect_timeout=10,
    )


@needs_postgresql
def test_database_is_reachable_and_writable(pg_database_url: str | None) -> None:
    """A plain psycopg connection to the test's database can create, write and read a table."""
    assert pg_database_url is not None and pg_database_url.startswith("postgresql+psycopg://")
    with _connect(pg_database_url) as conn:
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes (body) VALUES (%s), (%s)", ("first", "second"))
        conn.commit()
    with _connect(pg_database_url) as conn:
        rows = conn.execute("SELECT body FROM notes ORDER BY id").fetchall()
    assert rows == [("first",), ("second",)]


@needs_postgresql
def test_isolated_env_points_settings_at_postgresql(isolated_env: dict[str, Path], pg_database_url: str | None) -> None:
    """The shared ``isolated_env`` fixture hands the application the test's PostgreSQL database."""
    assert os.environ["DATABASE_URL"] == pg_database_url
    assert get_settings().database.url == pg_database_url


@needs_postgresql
@pytest.mark.bare_database
@pytest.mark.xdist_group("each-test-gets-its-own-database")  # the two turns compare notes in this process
@pytest.mark.parametrize("turn", ["one", "two"])
def test_each_test_gets_its_own_database(turn: str, pg_cluster: PgCluster, pg_database_url: str | None) -> None:
    """Two ``bare_database`` tests get different, empty databases; the earlier one's is gone once it has finished."""
    assert pg_database_url is not None
    name = str(make_url(pg_database_url).database)
    with _connect(pg_database_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        conn.execute(f"CREATE TABLE left_by_{turn} (id int)")
        conn.commit()
    assert tables == (0,)
    others = [other for key, other in _seen.items() if key != turn]
    _seen[turn] = name
    for other in others:
        assert other != name
        assert other not in pg_cluster.databases()


@needs_postgresql
@pytest.mark.parametrize("turn", ["one", "two"])
def test_a_test_database_holds_the_current_schema_and_nothing_else(
    turn: str, pg_database_url: str | None, new_database_url: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the marker a test's database is migrated to the latest version, empty of rows, and its own."""
    assert pg_database_url is not None
    with _connect(pg_database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        projects = conn.execute("SELECT count(*) FROM projects").fetchone()
        conn.execute("INSERT INTO projects (slug, human_key, created_at) VALUES (%s, %s, now())", (turn, f"/{turn}"))
        conn.commit()
    assert versions == list(range(1, LATEST_VERSION + 1))
    assert projects == (0,)
    # The same schema as the application makes on first use of an empty database.
    fresh = new_database_url(tmp_path / "unused.sqlite3")
    assert _schema_of(fresh) == []
    monkeypatch.setenv("DATABASE_URL", fresh)
    clear_settings_cache()
    ensure_schema()
    reset_database_state()
    assert _schema_of(pg_database_url) == _schema_of(fresh)


def _schema_of(url: str) -> list[tuple[Any, ...]]:
    """Tables, columns, indexes, triggers and functions of the ``public`` schema of ``url``."""
    with _connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1").fetchall()
        triggers = conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1").fetchall()
        functions = conn.execute(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' ORDER BY 1"
        ).fetchall()
    return [*columns, *indexes, *triggers, *functions]


def test_sqlite_run_starts_no_cluster(isolated_env: dict[str, Path], pg_database_url: str | None) -> None:
    """Without the backend variable a test gets no PostgreSQL database and keeps its SQLite file."""
    if on_postgresql():
        pytest.skip("checks the default SQLite run")
    assert pg_database_url is None
    assert get_settings().database.url == f"sqlite+aiosqlite:///{isolated_env['db_path']}"


INNER_CONFTEST = 'pytest_plugins = ["pg_cluster"]\n'

INNER_TESTS = textwrap.dedent(
    """
    import json
    import os
    import threading
    from pathlib import Path

    import pytest


    def test_records_then_ends(pg_cluster, pg_database_url):
        probe = {"root": str(pg_cluster.root), "pid": pg_cluster.postmaster_pid()}
        Path(os.environ["PG_PROBE"]).write_text(json.dumps(probe))
        if os.environ["PG_ENDING"] == "wait":
            threading.Event().wait(120)
        assert False, "this test fails on purpose"


    @pytest.mark.sqlite_only
    def test_sqlite_only_is_skipped():
        assert False, "must not run on PostgreSQL"
    """
)


def _inner_run(tmp_path: Path, ending: str, backend: str = "postgresql") -> tuple[list[str], dict[str, str], Path]:
    """Write a small test project using the plugin; return its pytest command, environment and probe file."""
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    probe = tmp_path / "probe.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(TESTS_DIR),
        BACKEND_ENV: backend,
        "PG_PROBE": str(probe),
        "PG_ENDING": ending,
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "test_inner.py",
    ]
    return command, env, probe


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _assert_cleaned_up(probe: Path) -> None:
    recorded = json.loads(probe.read_text())
    assert not Path(recorded["root"]).exists(), "cluster directory left behind"
    assert not _alive(recorded["pid"]), "postgres server left running"


@needs_postgresql
@pytest.mark.slow
def test_cluster_removed_when_tests_fail(tmp_path: Path) -> None:
    """A run whose tests fail still stops its cluster and removes its directory; sqlite_only tests are skipped."""
    command, env, probe = _inner_run(tmp_path, "fail")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 skipped" in done.stdout
    _assert_cleaned_up(probe)


@needs_postgresql
@pytest.mark.slow
def test_cluster_removed_when_run_is_terminated(tmp_path: Path) -> None:
    """A run stopped by SIGTERM in the middle of a test still stops its cluster and removes its directory."""
    command, env, probe = _inner_run(tmp_path, "wait")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(probe.exists, 120, interval=0.05, message="inner test never started")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == pytest.ExitCode.INTERRUPTED
    _assert_cleaned_up(probe)


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    """An unknown backend name stops the run before any test, naming the accepted values."""
    command, env, probe = _inner_run(tmp_path, "fail", backend="mysql")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"{BACKEND_ENV} must be one of sqlite, postgresql" in done.stderr
    assert not probe.exists()
