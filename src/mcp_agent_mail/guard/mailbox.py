"""Where the guard reads the mailbox from (a SQLite file or a PostgreSQL database), and how reading it fails.

Pure data and URL parsing: nothing here opens a connection or imports a database driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"})
# Query keys that carry secrets: never kept in what the guard shows or stores.
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})
_DEFAULT_PORT = 5432


@dataclass(frozen=True, slots=True)
class PostgresMailbox:
    """A PostgreSQL mailbox: where to connect and as whom; its ``password`` (if any) is never shown."""

    host: str
    port: int | None
    dbname: str
    user: str
    options: tuple[tuple[str, str], ...] = ()
    passfile: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)

    @property
    def address(self) -> str:
        """Return ``host:port`` as libpq will use it (``localhost`` / 5432 when the URL leaves them out)."""
        host = self.host or "localhost"
        return f"{f'[{host}]' if ':' in host else host}:{self.port or _DEFAULT_PORT}"

    def __str__(self) -> str:
        """Return ``postgresql://user@host:port/database``: enough to find the database, never the password."""
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.address}/{self.dbname}"


Mailbox = Path | PostgresMailbox
"""What the guard reads: a SQLite database file, or a PostgreSQL database."""


def is_postgres_url(url: str) -> bool:
    """Tell whether ``url`` names a PostgreSQL database (any spelling DATABASE_URL accepts)."""
    scheme, sep, _ = url.strip().partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


def parse_postgres_url(url: str, *, passfile: str | None = None) -> PostgresMailbox:
    """Return the PostgreSQL mailbox ``url`` names; raise ValueError (never quoting the URL) if it is not one."""
    if not is_postgres_url(url):
        raise ValueError("the database URL does not name a PostgreSQL database")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("the PostgreSQL URL has an invalid host or port") from None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    password = unquote(parts.password) if parts.password is not None else query.get("password")
    host = parts.hostname or query.pop("host", "")
    if port is None and query.get("port", "").isdigit():
        port = int(query.pop("port"))
    return PostgresMailbox(
        host=host,
        port=port,
        dbname=unquote(parts.path.lstrip("/")) or query.pop("dbname", ""),
        user=unquote(parts.username or "") or query.pop("user", ""),
        options=tuple((k, v) for k, v in query.items() if k not in _SECRET_QUERY_KEYS),
        passfile=passfile,
        password=password or None,
    )


class MailboxUnreadable(Exception):
    """The mailbox database is missing, unreachable, unreadable, or not a mailbox."""

    def __init__(self, path: Mailbox, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


class MailboxReader(Protocol):
    """The three questions the guard asks a mailbox, inside one read-only transaction."""

    def has_project(self, slug: str) -> bool:
        """Tell whether a project with ``slug`` exists."""
        ...

    def active_exclusive(self, slug: str, now: datetime) -> list[tuple[str, str, datetime]]:
        """Return (pattern, holder, aware UTC expiry) of the project's unreleased exclusive leases live at ``now``."""
        ...

    def slug_for_human_keys(self, keys: list[str]) -> str | None:
        """Return the slug of the oldest project whose human key is one of ``keys``, else None."""
        ...


__all__ = [
    "Mailbox",
    "MailboxReader",
    "MailboxUnreadable",
    "PostgresMailbox",
    "is_postgres_url",
    "parse_postgres_url",
]
