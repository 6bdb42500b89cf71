"""Choosing the database by URL (db.backend_url): SQLite or PostgreSQL, the optional driver, and coded refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import ensure_schema, get_engine, get_sync_engine
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.errors import ConfigurationError

runner = CliRunner()

PASSWORD = "Sup3r-S3cret"
MISSING_DRIVER = "CONFIGURATION_ERROR: DATABASE_URL names PostgreSQL but its driver, psycopg 3, is not installed."
INSTALL_HINT = "Hint: pip install 'mcp-agent-mail[postgres]'"

# Imports the package with psycopg blocked, as on an installation without the extra, then runs the CLI.
_WITHOUT_PSYCOPG = (
    "import sys\n"
    "sys.modules['psycopg'] = None\n"
    "from mcp_agent_mail.cli import app\n"
    "app(sys.argv[1:], prog_name='mcp-agent-mail')\n"
)


def _use_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    clear_settings_cache()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://mail:{PASSWORD}@db.example:5433/mailbox",
        f"postgresql://mail:{PASSWORD}@db.example:5433/mailbox",
        f"postgres://mail:{PASSWORD}@db.example:5433/mailbox",
        f"postgresql+psycopg_async://mail:{PASSWORD}@db.example:5433/mailbox",
    ],
    ids=["postgresql+psycopg", "postgresql", "postgres", "postgresql+psycopg_async"],
)
def test_every_postgresql_spelling_opens_psycopg_and_keeps_its_parameters(url):
    query = "?sslmode=require&sslrootcert=/etc/ssl/team-ca.pem&connect_timeout=5&application_name=mail"
    backend = parse_database_url(url + query)
    assert backend.dialect == "postgresql"
    for opened in (backend.async_url, backend.sync_url):
        parsed = make_url(opened)
        assert parsed.drivername == "postgresql+psycopg"
        assert (parsed.username, parsed.password, parsed.host, parsed.port) == ("mail", PASSWORD, "db.example", 5433)
        assert parsed.database == "mailbox"
        assert dict(parsed.query) == {
            "sslmode": "require",
            "sslrootcert": "/etc/ssl/team-ca.pem",
            "connect_timeout": "5",
            "application_name": "mail",
        }


def test_a_password_with_reserved_characters_survives_the_rewrite():
    backend = parse_database_url("postgres://mail:p%40ss%2Fw%3Ard@db.example/mailbox")
    assert make_url(backend.async_url).password == "p@ss/w:rd"


@pytest.mark.parametrize(
    ("url", "async_url", "sync_url"),
    [
        (
            "sqlite+aiosqlite:////var/mail/box.sqlite3",
            "sqlite+aiosqlite:////var/mail/box.sqlite3",
            "sqlite:////var/mail/box.sqlite3",
        ),
        ("sqlite:///box.sqlite3", "sqlite+aiosqlite:///box.sqlite3", "sqlite:///box.sqlite3"),
        (
            "sqlite+pysqlite:///box.sqlite3?timeout=5",
            "sqlite+aiosqlite:///box.sqlite3?timeout=5",
            "sqlite:///box.sqlite3?timeout=5",
        ),
    ],
)
def test_sqlite_urls_open_aiosqlite_and_sqlite3(url, async_url, sync_url):
    backend = parse_database_url(url)
    assert (backend.dialect, backend.async_url, backend.sync_url) == ("sqlite", async_url, sync_url)


def test_the_engines_reach_postgresql_through_psycopg_with_the_configured_pool(isolated_env, monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "3")
    _use_url(monkeypatch, f"postgres://mail:{PASSWORD}@127.0.0.1:5433/mailbox?sslmode=require")
    sync_engine = get_sync_engine()
    async_engine = get_engine()
    assert (sync_engine.dialect.name, sync_engine.dialect.driver, sync_engine.dialect.is_async) == (
        "postgresql",
        "psycopg",
        False,
    )
    assert (async_engine.dialect.name, async_engine.dialect.driver, async_engine.dialect.is_async) == (
        "postgresql",
        "psycopg",
        True,
    )
    for engine in (sync_engine, async_engine):
        assert engine.url.query["sslmode"] == "require" and engine.url.password == PASSWORD
    assert async_engine.pool.size() == get_settings().database.pool_size == 3  # type: ignore[attr-defined]
    assert not isolated_env["db_path"].exists()


def _chain_text(exc: BaseException) -> str:
    """Return the text of ``exc`` and of every exception chained to it, as a logged traceback shows them."""
    texts: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        texts.append(str(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n".join(texts)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening, so connections to it are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"mysql://mail:{PASSWORD}@127.0.0.1:{{port}}/mailbox",
            "DATABASE_URL names the database 'mysql'; mcp-agent-mail supports SQLite and PostgreSQL only.",
        ),
        (
            f"mssql+pyodbc://mail:{PASSWORD}@127.0.0.1:{{port}}/mailbox",
            "DATABASE_URL names the database 'mssql'; mcp-agent-mail supports SQLite and PostgreSQL only.",
        ),
        (
            f"postgresql+asyncpg://mail:{PASSWORD}@127.0.0.1:{{port}}/mailbox",
            "DATABASE_URL asks for the driver 'asyncpg', which mcp-agent-mail does not use: it reaches SQLite "
            "through aiosqlite and PostgreSQL through psycopg 3.",
        ),
        (
            f"postgresql+psycopg2://mail:{PASSWORD}@127.0.0.1:{{port}}/mailbox",
            "DATABASE_URL asks for the driver 'psycopg2', which mcp-agent-mail does not use: it reaches SQLite "
            "through aiosqlite and PostgreSQL through psycopg 3.",
        ),
        (f"mail:{PASSWORD}@127.0.0.1:{{port}}/mailbox", "DATABASE_URL is not a database URL."),
    ],
    ids=["mysql", "mssql", "asyncpg", "psycopg2", "no-scheme"],
)
def test_an_unsupported_url_is_refused_before_anything_is_opened(isolated_env, monkeypatch, closed_port, url, message):
    _use_url(monkeypatch, url.format(port=closed_port))
    with pytest.raises(ConfigurationError) as caught:
        ensure_schema()
    assert caught.value.message == message
    hint = caught.value.hint or ""
    assert "sqlite+aiosqlite:///" in hint and "postgresql+psycopg://" in hint and "postgres://" in hint
    assert PASSWORD not in caught.value.render()
    assert PASSWORD not in _chain_text(caught.value), "a logged traceback would show the password"

    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"CONFIGURATION_ERROR: {message}"
    assert PASSWORD not in result.output and PASSWORD not in result.stderr
    assert not isolated_env["db_path"].exists()


def _cli(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as users do (or under ``code`` given to ``python -c``), with a bounded wait."""
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "mcp_agent_mail", *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", "0"], ["stdio"], ["migrate"], ["doctor", "check"]],
    ids=["serve", "stdio", "migrate", "doctor"],
)
def test_without_psycopg_a_postgresql_url_stops_the_command_with_the_install_hint(
    isolated_env, monkeypatch, closed_port, command
):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://mail:{PASSWORD}@127.0.0.1:{closed_port}/mailbox")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    result = _cli(*command, code=_WITHOUT_PSYCOPG)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[:2] == [MISSING_DRIVER, INSTALL_HINT]
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert not isolated_env["storage"].exists(), "the command started work before checking the database driver"


def test_with_psycopg_a_postgresql_url_is_tried_and_its_password_is_never_printed(
    isolated_env, monkeypatch, closed_port
):
    monkeypatch.setenv("DATABASE_URL", f"postgres://mail:{PASSWORD}@127.0.0.1:{closed_port}/mailbox?connect_timeout=5")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("DATABASE_ECHO", "true")
    result = _cli("migrate")
    assert result.returncode == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"UNAVAILABLE: The database server at 127.0.0.1:{closed_port} cannot be reached")
    assert "Retry in a few seconds" in result.stderr
    for shown in (result.stdout, result.stderr):
        assert PASSWORD not in shown and PASSWORD.replace("-", "%2D") not in shown
    assert not Path(isolated_env["db_path"]).exists()
