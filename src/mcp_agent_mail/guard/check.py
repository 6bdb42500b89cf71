"""Find the paths that other agents hold under active exclusive reservations, reading the mailbox read-only.

This module runs inside Git hooks, so it imports only the standard library and the
small pattern and name helpers; the mailbox is a SQLite file opened with ``mode=ro``
(:mod:`mcp_agent_mail.guard.sqlite_reader`) or a PostgreSQL database read in a read-only
transaction (:mod:`mcp_agent_mail.guard.postgres_reader`, which loads psycopg only then). It never
writes, never talks to the server and never reads the Git archive.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mcp_agent_mail.guard.mailbox import Mailbox, MailboxReader, MailboxUnreadable, PostgresMailbox
from mcp_agent_mail.guard.postgres_reader import reading_postgres
from mcp_agent_mail.guard.sqlite_reader import reading_sqlite
from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.reservations.patterns import is_virtual, pattern_matches, read_stored_pattern


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


def reading(mailbox: Mailbox | str) -> AbstractContextManager[MailboxReader]:
    """Open ``mailbox`` (a SQLite file or a PostgreSQL database) for reading; failures are MailboxUnreadable."""
    if isinstance(mailbox, PostgresMailbox):
        return reading_postgres(mailbox)
    return reading_sqlite(Path(mailbox))


def _location(mailbox: Mailbox | str) -> Mailbox:
    return mailbox if isinstance(mailbox, PostgresMailbox) else Path(mailbox)


def find_conflicts(
    mailbox: Mailbox | str,
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
    with reading(mailbox) as db:
        if not db.has_project(project_slug):
            raise MailboxUnreadable(_location(mailbox), f"it has no project {project_slug!r}")
        rows = db.active_exclusive(project_slug, datetime.now(UTC)) if wanted else []
    own = name_key(agent_name) if agent_name and agent_name.strip() else None
    leases = [
        (pattern, holder, expires, *read_stored_pattern(pattern))
        for pattern, holder, expires in rows
        if not is_virtual(pattern.strip()) and (own is None or name_key(holder) != own)
    ]
    return [
        Conflict(path, pattern, holder, expires, problem)
        for path in wanted
        for pattern, holder, expires, readable, problem in leases
        if problem is not None or pattern_matches(readable, path, ignorecase=ignorecase)
    ]


def project_slug_for_repo(mailbox: Mailbox | str, repo_root: Path) -> str | None:
    """Return the slug of the project whose human key is ``repo_root`` (as given or resolved), else None."""
    root = Path(repo_root)
    candidates = list(dict.fromkeys([os.path.normpath(str(root.absolute())), str(root.resolve())]))
    with reading(mailbox) as db:
        return db.slug_for_human_keys(candidates)


__all__ = [
    "Conflict",
    "Mailbox",
    "MailboxUnreadable",
    "PostgresMailbox",
    "find_conflicts",
    "normalise_path",
    "project_slug_for_repo",
    "reading",
]
