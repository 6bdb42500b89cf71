"""Which database the server uses, found as :mod:`mcp_agent_mail.config` finds it, without pydantic.

Precedence, as for the server's settings: the process environment (names in any
case), then ``./.env``, then ``<data dir>/.env``, then the default SQLite file in
the data directory (``MCP_AGENT_MAIL_HOME``, else ``~/.mcp_agent_mail``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"})
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"})


@dataclass(frozen=True, slots=True)
class Database:
    """The mailbox's database: a SQLite file, or a PostgreSQL URL that libpq accepts."""

    sqlite_path: Path | None = None
    postgres_url: str | None = None
    memory: bool = False


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the per-user data directory, as the server's settings resolve it."""
    env = os.environ if environ is None else environ
    override = env.get("MCP_AGENT_MAIL_HOME", "").strip()
    base = Path(override).expanduser() if override else Path.home() / ".mcp_agent_mail"
    return base.resolve()


def read_dotenv(path: Path) -> dict[str, str]:
    """Return the ``KEY=VALUE`` pairs of a ``.env`` file (keys lower-cased; empty when it cannot be read).

    The file is read by python-dotenv, the reader the server's settings use, imported only when a file
    is there.
    """
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {key.lower(): value for key, value in values.items() if value is not None}


def setting(name: str, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """Return the value of setting ``name`` from the environment or the ``.env`` files, or None when unset."""
    env = os.environ if environ is None else environ
    wanted = name.lower()
    for key, value in env.items():
        if key.lower() == wanted:
            return value
    for path in ((cwd or Path.cwd()) / ".env", data_dir(env) / ".env"):
        found = read_dotenv(path).get(wanted)
        if found is not None:
            return found
    return None


def database_url(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Return the ``DATABASE_URL`` the server would use (the default SQLite file when none is set)."""
    configured = (setting("DATABASE_URL", environ, cwd) or "").strip()
    return configured or f"sqlite+aiosqlite:///{data_dir(environ) / 'mailbox.sqlite3'}"


def locate_database(url: str, cwd: Path | None = None) -> Database:
    """Return the database ``url`` names; raise ValueError (never quoting the URL) for any other kind of URL."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError("DATABASE_URL is not a database URL")
    if scheme in _SQLITE_SCHEMES:
        database = unquote(rest.split("?", 1)[0].partition("/")[2])
        if not database or database == ":memory:":
            return Database(memory=True)
        path = Path(database).expanduser()
        return Database(sqlite_path=path if path.is_absolute() else ((cwd or Path.cwd()) / path).resolve())
    if scheme in _POSTGRES_SCHEMES:
        return Database(postgres_url=f"postgresql://{rest}")
    raise ValueError("DATABASE_URL names neither SQLite nor PostgreSQL")


__all__ = ["Database", "data_dir", "database_url", "locate_database", "read_dotenv", "setting"]
