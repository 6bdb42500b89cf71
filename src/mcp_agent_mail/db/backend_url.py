"""Which database a ``DATABASE_URL`` names, and the URLs the engines open for it.

Two backends are supported: SQLite (the default, through aiosqlite and the
standard library's sqlite3) and PostgreSQL (through psycopg 3, an optional
extra). Every accepted spelling of a URL maps to one async URL and one sync URL;
anything else is a CONFIGURATION_ERROR that names the accepted forms. No message
here ever quotes the URL itself, so a password in it cannot leak.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from mcp_agent_mail.errors import ConfigurationError

Dialect = Literal["sqlite", "postgresql"]

POSTGRES_EXTRA_HINT = "pip install 'mcp-agent-mail[postgres]'"
"""How to install the PostgreSQL driver."""

SUPPORTED_FORMS = (
    "sqlite+aiosqlite:///<path to a file> (the default) or "
    "postgresql+psycopg://<user>:<password>@<host>:<port>/<database> (postgresql:// and postgres:// mean the same)"
)
"""The URL forms ``DATABASE_URL`` accepts, as shown in errors."""

_SQLITE_DRIVERS = {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"}


@dataclass(frozen=True, slots=True)
class Backend:
    """A parsed ``DATABASE_URL``: its dialect and the URLs of its async and sync engines."""

    dialect: Dialect
    async_url: str
    sync_url: str


def _render(url: URL, drivername: str) -> str:
    return url.set(drivername=drivername).render_as_string(hide_password=False)


@functools.lru_cache(maxsize=16)
def parse_database_url(url: str) -> Backend:
    """Return the backend ``url`` names; raise CONFIGURATION_ERROR for a URL of any other database or driver."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigurationError("DATABASE_URL is not a database URL.", hint=f"Use {SUPPORTED_FORMS}.") from None
    driver = parsed.drivername.lower()
    if driver in _SQLITE_DRIVERS:
        async_url = url if driver == "sqlite+aiosqlite" else _render(parsed, "sqlite+aiosqlite")
        return Backend("sqlite", async_url, _render(parsed, "sqlite"))
    if driver in _POSTGRES_DRIVERS:
        canonical = _render(parsed, "postgresql+psycopg")
        return Backend("postgresql", canonical, canonical)
    backend, _, dbapi = driver.partition("+")
    if backend in ("sqlite", "postgres", "postgresql"):
        raise ConfigurationError(
            f"DATABASE_URL asks for the driver {dbapi!r}, which mcp-agent-mail does not use: it reaches SQLite "
            "through aiosqlite and PostgreSQL through psycopg 3.",
            hint=f"Use {SUPPORTED_FORMS}.",
        )
    raise ConfigurationError(
        f"DATABASE_URL names the database {backend!r}; mcp-agent-mail supports SQLite and PostgreSQL only.",
        hint=f"Use {SUPPORTED_FORMS}.",
    )


def require_driver(backend: Backend) -> None:
    """Raise CONFIGURATION_ERROR when the backend's optional driver cannot be imported."""
    if backend.dialect != "postgresql":
        return
    try:
        importlib.import_module("psycopg")
    except ImportError as exc:
        if exc.name == "psycopg":
            message = "DATABASE_URL names PostgreSQL but its driver, psycopg 3, is not installed."
        else:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"DATABASE_URL names PostgreSQL but its driver, psycopg 3, cannot be loaded: {reason}."
        raise ConfigurationError(message, hint=POSTGRES_EXTRA_HINT) from None


def database_backend(url: str) -> Backend:
    """Return the backend ``url`` names once its driver is known to load; else raise CONFIGURATION_ERROR."""
    backend = parse_database_url(url)
    require_driver(backend)
    return backend


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
