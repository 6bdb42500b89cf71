"""Read the guard's questions from a PostgreSQL mailbox: psycopg alone, one read-only transaction, short timeouts.

The connection gives up after ``CONNECT_TIMEOUT_SECONDS`` and each statement after
``STATEMENT_TIMEOUT_MS``, so a database that is down or stuck costs a commit a few seconds, not a
hang. Every failure becomes :class:`MailboxUnreadable` with a message naming the host, port,
database and user, never a password. Where the password comes from is described in
:mod:`mcp_agent_mail.guard` (``password_sources`` says it in the message when a login is refused).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from mcp_agent_mail.guard.mailbox import MailboxUnreadable, PostgresMailbox

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 5000
APPLICATION_NAME = "mcp-agent-mail guard"

_ACTIVE_EXCLUSIVE = """
SELECT fr.path_pattern, a.name, fr.expires_ts
FROM file_reservations AS fr
JOIN agents AS a ON a.id = fr.agent_id
JOIN projects AS p ON p.id = fr.project_id
WHERE p.slug = %s
  AND fr.exclusive
  AND fr.released_ts IS NULL
  AND fr.expires_ts > %s
ORDER BY fr.id
"""
_LIBPQ_NOISE = (
    re.compile(r"connection failed:\s*"),
    re.compile(r'connection to server (at|on) "[^"]*"(, port \d+|\s*\([^)]*\), port \d+)? failed:\s*'),
    re.compile(r"\b(FATAL|ERROR):\s+"),
)
_AUTH_WORDS = ("authentication", "password", "pg_hba.conf", "role ")


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PostgresReader:
    """The guard's questions over one psycopg connection inside a read-only transaction."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        """The psycopg connection, inside its read-only transaction."""

    def has_project(self, slug: str) -> bool:
        """Tell whether a project with ``slug`` exists."""
        return self.connection.execute("SELECT 1 FROM projects WHERE slug = %s", (slug,)).fetchone() is not None

    def active_exclusive(self, slug: str, now: datetime) -> list[tuple[str, str, datetime]]:
        """Return (pattern, holder, expiry) of the project's unreleased exclusive leases live at ``now``."""
        rows = self.connection.execute(_ACTIVE_EXCLUSIVE, (slug, now)).fetchall()
        return [(str(pattern), str(holder), _as_utc(expires)) for pattern, holder, expires in rows]

    def slug_for_human_keys(self, keys: list[str]) -> str | None:
        """Return the slug of the oldest project whose human key is one of ``keys``, else None."""
        row = self.connection.execute(
            "SELECT slug FROM projects WHERE human_key = ANY(%s) ORDER BY id LIMIT 1", (keys,)
        ).fetchone()
        return str(row[0]) if row else None


def password_sources(mailbox: PostgresMailbox) -> str:
    """Say where the guard takes the password for ``mailbox`` from, and what to do when it is wrong."""
    if mailbox.password:
        return "The password comes from DATABASE_URL; check it there."
    if mailbox.passfile:
        return (
            f"The guard takes the password from PGPASSWORD when it is set, else from {mailbox.passfile} "
            "(written by `mcp-agent-mail guard install` from DATABASE_URL): after the password changes, "
            "install the guard again."
        )
    return (
        "DATABASE_URL had no password when the guard was installed, so it takes one from PGPASSWORD or "
        "~/.pgpass: set one of those, or install the guard again with the password in DATABASE_URL."
    )


def connect_arguments(mailbox: PostgresMailbox) -> dict[str, Any]:
    """Return the keyword arguments for ``psycopg.connect``: the URL's parameters plus the guard's timeouts."""
    arguments: dict[str, Any] = dict(mailbox.options)
    named = {"host": mailbox.host, "port": mailbox.port, "dbname": mailbox.dbname, "user": mailbox.user}
    arguments.update({key: value for key, value in named.items() if value})
    if mailbox.password:
        arguments["password"] = mailbox.password
    elif mailbox.passfile:
        arguments["passfile"] = mailbox.passfile
    arguments.setdefault("application_name", APPLICATION_NAME)
    arguments["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return arguments


def _scrub(text: str, mailbox: PostgresMailbox) -> str:
    for secret in (mailbox.password, os.environ.get("PGPASSWORD")):
        if secret:
            text = text.replace(secret, "***")
    return text


def _reason(exc: BaseException, mailbox: PostgresMailbox) -> str:
    """Return libpq's message for ``exc`` on one line, without its repeated prefixes."""
    lines = (" ".join(line.split()) for line in str(exc).splitlines())
    text = "; ".join(line for line in lines if line) or type(exc).__name__
    for noise in _LIBPQ_NOISE:
        text = noise.sub("", text)
    return _scrub(text.strip(), mailbox)


def _unreachable(mailbox: PostgresMailbox, exc: BaseException) -> MailboxUnreadable:
    who = f"PostgreSQL at {mailbox.address} (database {mailbox.dbname or '?'}, user {mailbox.user or '?'})"
    reason = _reason(exc, mailbox)
    if any(word in reason.lower() for word in _AUTH_WORDS):
        return MailboxUnreadable(mailbox, f"{who} refused the login: {reason}. {password_sources(mailbox)}")
    if "does not exist" in reason:
        return MailboxUnreadable(mailbox, f"{who} refused the connection: {reason}")
    return MailboxUnreadable(mailbox, f"{who} cannot be reached: {reason}")


@contextmanager
def reading_postgres(mailbox: PostgresMailbox) -> Iterator[PostgresReader]:
    """Yield a reader inside a read-only transaction; every failure (connecting or reading) is MailboxUnreadable."""
    try:
        import psycopg
    except ImportError:
        raise MailboxUnreadable(
            mailbox,
            f"the PostgreSQL driver psycopg is not installed for {sys.executable} "
            "(pip install 'mcp-agent-mail[postgres]')",
        ) from None
    try:
        connection = psycopg.connect(prepare_threshold=None, **connect_arguments(mailbox))
    except psycopg.Error as exc:
        raise _unreachable(mailbox, exc) from None
    try:
        connection.execute("SET TRANSACTION READ ONLY")
        connection.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        yield PostgresReader(connection)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        raise MailboxUnreadable(mailbox, f"it is not a mailbox database ({_reason(exc, mailbox)})") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        who = f"user {mailbox.user}" if mailbox.user else "this user"
        raise MailboxUnreadable(mailbox, f"{who} may not read the mailbox ({_reason(exc, mailbox)})") from None
    except psycopg.errors.QueryCanceled:
        raise MailboxUnreadable(
            mailbox, f"a query took longer than {STATEMENT_TIMEOUT_MS // 1000} s (the guard's statement_timeout)"
        ) from None
    except psycopg.OperationalError as exc:
        raise _unreachable(mailbox, exc) from None
    except psycopg.Error as exc:
        raise MailboxUnreadable(mailbox, _reason(exc, mailbox)) from None
    finally:
        connection.close()


__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "STATEMENT_TIMEOUT_MS",
    "PostgresReader",
    "connect_arguments",
    "password_sources",
    "reading_postgres",
]
