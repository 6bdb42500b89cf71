"""The light database resolver of ``mail status`` finds the database the server's settings find."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db.backend_url import sqlite_path_from_url
from mcp_agent_mail.services.identity.resolve import slugify as server_slugify
from mcp_agent_mail.services.unread.counts import slugify
from mcp_agent_mail.services.unread.locate import data_dir, database_url, locate_database, read_dotenv


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """An empty environment: a data directory, a working directory, no DATABASE_URL anywhere."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for name in ("DATABASE_URL", "database_url", "Database_Url", "STORAGE_ROOT", "TOOLS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(home))
    monkeypatch.chdir(work)
    clear_settings_cache()
    yield {"home": home, "work": work}
    clear_settings_cache()


def agrees() -> str:
    """Return the URL both resolvers find, after checking that they find the same one."""
    clear_settings_cache()
    expected = get_settings().database.url
    assert database_url() == expected
    return expected


def test_the_default_is_the_data_directorys_sqlite_file(place: dict[str, Path]) -> None:
    assert agrees() == f"sqlite+aiosqlite:///{place['home'].resolve() / 'mailbox.sqlite3'}"
    assert data_dir() == get_settings().data_dir


def test_the_environment_wins_in_any_case(place: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    (place["work"] / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\n")
    monkeypatch.setenv("database_url", "sqlite:////srv/from-env.db")
    assert agrees() == "sqlite:////srv/from-env.db"


def test_an_empty_variable_means_the_default(place: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    (place["work"] / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\n")
    monkeypatch.setenv("DATABASE_URL", "")
    assert agrees().endswith("/mailbox.sqlite3")


def test_the_working_directorys_env_file_beats_the_data_directorys(place: dict[str, Path]) -> None:
    (place["home"] / ".env").write_text("DATABASE_URL=sqlite:////srv/home.db\n")
    assert agrees() == "sqlite:////srv/home.db"
    (place["work"] / ".env").write_text("DATABASE_URL=sqlite:////srv/work.db\n")
    assert agrees() == "sqlite:////srv/work.db"


@pytest.mark.parametrize(
    "line",
    [
        'export DATABASE_URL="postgresql+psycopg://u:p%40ss@db.example:5433/mail"',
        "DATABASE_URL = 'postgresql+psycopg://u:p%40ss@db.example:5433/mail'",
        "DATABASE_URL=postgresql+psycopg://u:p%40ss@db.example:5433/mail   # the team's server",
        "DATABASE_URL=${SCHEME}://u:p%40ss@db.example:5433/mail",
    ],
)
def test_env_file_syntax(place: dict[str, Path], monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    monkeypatch.setenv("SCHEME", "postgresql+psycopg")
    (place["home"] / ".env").write_text(f"# settings\n\nLOG_LEVEL=DEBUG\n{line}\nOTHER='x'\n")
    assert agrees() == "postgresql+psycopg://u:p%40ss@db.example:5433/mail"


def test_an_unreadable_env_file_counts_as_empty(place: dict[str, Path]) -> None:
    (place["work"] / ".env").mkdir()
    assert read_dotenv(place["work"] / ".env") == {}


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////srv/mail/mailbox.sqlite3",
        "sqlite:///relative/mail.db",
        "sqlite+pysqlite:///./here.db",
        "sqlite+aiosqlite:////srv/with%20space/mail.db?timeout=5",
        "sqlite:///~/mail.db",
    ],
)
def test_sqlite_files_agree_with_the_database_layer(place: dict[str, Path], url: str) -> None:
    assert locate_database(url).sqlite_path == sqlite_path_from_url(url)


def test_postgres_and_other_urls() -> None:
    found = locate_database("postgresql+psycopg://me:secret@db:5432/mail?sslmode=require")
    assert found.postgres_url == "postgresql://me:secret@db:5432/mail?sslmode=require"
    assert locate_database("sqlite+aiosqlite://").memory
    with pytest.raises(ValueError, match="neither SQLite nor PostgreSQL") as caught:
        locate_database("mysql://me:secret@db/mail")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("key", ["/home/me/My Repo", "Web-App_2", "  ", "ünïcode/path"])
def test_slugs_agree_with_the_server(key: str) -> None:
    assert slugify(key) == server_slugify(key)
