"""Find the paths that other agents hold under active exclusive reservations, reading the mailbox read-only.

This module runs inside Git hooks, so it imports only the standard library and the
small pattern and name helpers; it opens the SQLite file with ``mode=ro`` and never
writes, never talks to the server and never reads the Git archive.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.reservations.patterns import is_virtual, pattern_matches, read_stored_pattern

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


class MailboxUnreadable(Exception):
    """The mailbox database is missing, unreadable, or not a mailbox (wraps OSError / sqlite3.Error)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


@dataclass(frozen=True, slots=True)
class Conflict:
    """A path covered by another agent's active exclusive reservation.

    ``problem`` is set when the stored pattern cannot be read (it then covers every path).
    """

    path: str
    pattern: str
    holder: str
    expires_ts: datetime
    problem: str | None = None


def normalise_path(path: str) -> str:
    """Return a repository-relative path with ``/`` separators and no leading ``/`` or ``./``."""
    text = path.replace("\\", "/").strip()
    while True:
        if text.startswith("./"):
            text = text[2:]
        elif text.startswith("/"):
            text = text[1:]
        else:
            return text


def _stored_now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).strftime(_STORED_FORMAT)


def _parse_stored(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


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
def _reading(database_path: Path) -> Iterator[sqlite3.Connection]:
    """Yield a read-only connection, turning every SQLite failure inside the block into MailboxUnreadable."""
    path = Path(database_path)
    connection = _connect(path)
    try:
        yield connection
    except sqlite3.OperationalError as exc:
        why = str(exc)
        if "no such table" in why or "no such column" in why:
            why = f"it is not a mailbox database ({why})"
        raise MailboxUnreadable(path, why) from exc
    except sqlite3.Error as exc:
        raise MailboxUnreadable(path, str(exc)) from exc
    finally:
        connection.close()


def find_conflicts(
    database_path: Path,
    project_slug: str,
    paths: list[str],
    *,
    agent_name: str | None,
    ignorecase: bool = False,
) -> list[Conflict]:
    """Return, in path order, every (path, reservation) pair that another agent's active exclusive lease blocks.

    A stored pattern that cannot be read (from an old restore point, or stored before a
    limit existed) covers every path, with ``problem`` saying why: the guard cannot show that
    the holder's files are elsewhere. Raises MailboxUnreadable when the database cannot be
    read or has no project ``project_slug``.
    """
    wanted = list(dict.fromkeys(p for p in (normalise_path(p) for p in paths) if p))
    with _reading(database_path) as db:
        if db.execute("SELECT 1 FROM projects WHERE slug = ?", (project_slug,)).fetchone() is None:
            raise MailboxUnreadable(Path(database_path), f"it has no project {project_slug!r}")
        rows = db.execute(_ACTIVE_EXCLUSIVE, (project_slug, _stored_now())).fetchall() if wanted else []
    own = name_key(agent_name) if agent_name and agent_name.strip() else None
    leases = [
        (pattern, holder, _parse_stored(expires), *read_stored_pattern(pattern))
        for pattern, holder, expires in rows
        if not is_virtual(pattern.strip()) and (own is None or name_key(holder) != own)
    ]
    return [
        Conflict(path, pattern, holder, expires, problem)
        for path in wanted
        for pattern, holder, expires, readable, problem in leases
        if problem is not None or pattern_matches(readable, path, ignorecase=ignorecase)
    ]


def project_slug_for_repo(database_path: Path, repo_root: Path) -> str | None:
    """Return the slug of the project whose human key is ``repo_root`` (as given or resolved), else None."""
    root = Path(repo_root)
    candidates = list(dict.fromkeys([os.path.normpath(str(root.absolute())), str(root.resolve())]))
    marks = ", ".join("?" for _ in candidates)
    with _reading(database_path) as db:
        row = db.execute(f"SELECT slug FROM projects WHERE human_key IN ({marks}) ORDER BY id", candidates).fetchone()
    return str(row[0]) if row else None


__all__ = ["Conflict", "MailboxUnreadable", "find_conflicts", "normalise_path", "project_slug_for_repo"]
