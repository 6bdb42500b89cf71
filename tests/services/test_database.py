"""The database at start-up: schema prepared once and reported, unusable URLs refused, URLs shown without secrets."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

import db_kit
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db.migrations import LATEST_VERSION
from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, UnavailableError
from mcp_agent_mail.services.database import database_error, prepare_database, printable_url


@pytest.mark.bare_database
def test_prepare_creates_the_schema_and_returns_its_version(isolated_env):
    assert prepare_database(get_settings()) == LATEST_VERSION
    tables = db_kit.table_names()
    assert {"projects", "agents", "messages", "message_recipients", "file_reservations"} <= tables
    assert prepare_database(get_settings()) == LATEST_VERSION


def test_an_unusable_database_is_a_configuration_error_and_creates_nothing(isolated_env, monkeypatch):
    url = db_kit.unusable_url(isolated_env["tmp_path"])
    monkeypatch.setenv("DATABASE_URL", url)
    clear_settings_cache()
    with pytest.raises(ConfigurationError) as caught:
        prepare_database(get_settings())
    if db_kit.on_sqlite(url):
        blocker = isolated_env["tmp_path"] / "not-a-directory"
        assert caught.value.message == f"The database's directory {blocker} is a file, not a directory."
        assert caught.value.hint == "Point DATABASE_URL (or MCP_AGENT_MAIL_HOME) at a directory this user can write."
    else:
        assert "refused the connection" in caught.value.message and "does not exist" in caught.value.message
        assert "correct DATABASE_URL" in (caught.value.hint or "")
    if db_kit.on_sqlite(url):
        assert (isolated_env["tmp_path"] / "not-a-directory").read_text() == "a file where a directory should be"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite+aiosqlite:////var/mail/db.sqlite3", "sqlite+aiosqlite:////var/mail/db.sqlite3"),
        (
            "postgresql+asyncpg://mail:hunter2@db.example:5432/mail?sslpassword=x2&sslmode=require&api_key=k9",
            "postgresql+asyncpg://mail:***@db.example:5432/mail?api_key=%2A%2A%2A&sslmode=require"
            "&sslpassword=%2A%2A%2A",
        ),
        ("not a url at all", "<unparseable database url>"),
    ],
)
def test_printable_url_hides_passwords_and_secret_query_values(url, shown):
    assert printable_url(url) == shown


def test_database_errors_become_coded_errors_only_when_the_caller_can_act():
    busy = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert isinstance(database_error(busy), UnavailableError)
    assert isinstance(database_error(OverflowError("int too large")), InvalidArgumentError)
    assert database_error(OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))) is None
    assert database_error(ValueError("unrelated")) is None
