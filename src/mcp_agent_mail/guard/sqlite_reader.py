"""Read the guard's questions from a SQLite mailbox file: standard-library sqlite3, ``mode=ro``, never a write."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from mcp_agent_mail.guard.mailbox import MailboxUnreadable

BUSY_TIMEOUT_SECONDS = 5.0
_STORED_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

_ACTIVE_EXCLUSIVE = """
SELECT fr.path_pattern, a.name, fr.expires_ts
FROM file_reservations AS fr
JOIN agents AS a ON a.id = fr.agent_id
JOIN projects AS p ON p.id = fr.project_id
WHERE p.slug = ?
  AND fr.exclusive = 1
  AND fr.released_ts IS NULL
  AND fr.expires_ts > ?
ORDER BY fr.id
"""


def _stored(moment: datetime) -> str:
    """Render an aware datetime as SQLite rows store it (UTC, fixed width, so text order is time order)."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime(_STORED_FORMAT)


def _parse_stored(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


class SqliteReader:
    """The guard's questions over one read-only sqlite3 connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def has_project(self, slug: str) -> bool:
        """Tell whether a project with ``slug`` exists."""
        return self._db.execute("SELECT 1 FROM projects WHERE slug = ?", (slug,)).fetchone() is not None

    def active_exclusive(self, slug: str, now: datetime) -> list[tuple[str, str, datetime]]:
        """Return (pattern, holder, expiry) of the project's unreleased exclusive leases live at ``now``."""
        rows = self._db.execute(_ACTIVE_EXCLUSIVE, (slug, _stored(now))).fetchall()
        return [(str(pattern), str(holder), _parse_stored(str(expires))) for pattern, holder, expires in rows]

    def slug_for_human_keys(self, keys: list[str]) -> str | None:
        """Return the slug of the oldest project whose human key is one of ``keys``, else None."""
        marks = ", ".join("?" for _ in keys)
        row = self._db.execute(f"SELECT slug FROM projects WHERE human_key IN ({marks}) ORDER BY id", keys).fetchone()
        return str(row[0]) if row else None


def _connect(database_path: Path) -> sqlite3.Connection:
    """Open ``database_path`` read-only, or raise MailboxUnreadable when it is not there."""
    path = Path(database_path)
    if not path.is_file():
        raise MailboxUnreadable(path, "the file does not exist" if not path.exists() else "it is not a file")
    if not os.access(path, os.R_OK):
        raise MailboxUnreadable(path, "permission denied")
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise MailboxUnreadable(path, str(exc)) from exc


@contextmanager
def reading_sqlite(database_path: Path) -> Iterator[SqliteReader]:
    """Yield a reader over a read-only connection, turning every SQLite failure in the block into MailboxUnreadable."""
    path = Path(database_path)
    connection = _connect(path)
    try:
        yield SqliteReader(connection)
    except sqlite3.OperationalError as exc:
        why = str(exc)
        if "no such table" in why or "no such column" in why:
            why = f"it is not a mailbox database ({why})"
        raise MailboxUnreadable(path, why) from exc
    except sqlite3.Error as exc:
        raise MailboxUnreadable(path, str(exc)) from exc
    finally:
        connection.close()


__all__ = ["BUSY_TIMEOUT_SECONDS", "SqliteReader", "reading_sqlite"]
