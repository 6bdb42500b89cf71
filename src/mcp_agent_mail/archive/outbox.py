"""The archive outbox: what the Git archive still has to show.

Services call :func:`enqueue` inside the same write transaction as the change
itself, so a committed change always has its archive work recorded. The
archive writer renders each entry from the database and commits it to Git.

An entry the writer cannot apply is never dropped: it stays queued with its
attempt count, its last error and the time of its next try. Retries back off
from :data:`RETRY_BASE_SECONDS` doubling up to :data:`RETRY_MAX_SECONDS` and go
on for as long as the entry fails; ``doctor repair`` retries at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, Select, func, inspect, select

from mcp_agent_mail.db import schema
from mcp_agent_mail.db.transactions import WriteTransaction
from mcp_agent_mail.timeutil import iso, utcnow

OutboxKind = Literal["project", "agent", "message", "receipt", "reservation"]

RETRY_BASE_SECONDS = 10.0
RETRY_MAX_SECONDS = 3600.0
ERROR_MAX_CHARS = 1000

_O = schema.archive_outbox
_INSERT = _O.insert()

#: How many entries have failed at least once and are still queued.
FAILED_COUNT: Select[Any] = select(func.count()).select_from(_O).where(_O.c.attempts > 0)


async def enqueue(session: WriteTransaction, project_id: int, kind: OutboxKind, ref: int | str) -> None:
    """Record that the archive must (re)render ``kind``/``ref`` of a project."""
    await session.execute(_INSERT, {"project_id": project_id, "kind": kind, "ref": str(ref), "created_ts": utcnow()})


async def enqueue_many(
    session: WriteTransaction, project_id: int, kind: OutboxKind, refs: list[int] | list[str]
) -> None:
    """Record several entries of one kind in one statement."""
    if not refs:
        return
    now = utcnow()
    await session.execute(
        schema.archive_outbox.insert(),
        [{"project_id": project_id, "kind": kind, "ref": str(r), "created_ts": now} for r in refs],
    )


def retry_delay(attempts: int) -> timedelta:
    """Return how long an entry that has failed ``attempts`` times waits before its next try."""
    exponent = min(max(attempts, 1) - 1, 32)
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2**exponent, RETRY_MAX_SECONDS))


def error_text(exc: BaseException) -> str:
    """Return the one-line form of an error stored as an entry's ``last_error``.

    A failed rename names only its destination (the archive file), not the writer's temporary file.
    """
    if isinstance(exc, OSError) and exc.strerror and (exc.filename2 or exc.filename) is not None:
        target = os.fsdecode(exc.filename2 if exc.filename2 is not None else exc.filename)
        text = f"{type(exc).__name__}: {exc.strerror}: {target}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 3] + "..."


@dataclass(frozen=True)
class FailedEntry:
    """An outbox entry the writer could not apply (yet)."""

    id: int
    project_id: int
    kind: str
    ref: str
    attempts: int
    last_error: str
    failed_ts: datetime | None
    retry_ts: datetime | None

    def describe(self) -> str:
        """Return a one-line description: what, which row, how often, and the last error."""
        tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        return f"{self.kind} {self.ref} (outbox row {self.id}, {tries}): {self.last_error}"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of the entry."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "kind": self.kind,
            "ref": self.ref,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "failed_ts": iso(self.failed_ts),
            "retry_ts": iso(self.retry_ts),
        }

    @classmethod
    def from_row(cls, row: RowMapping) -> FailedEntry:
        """Build an entry from a row of :func:`failed_entries_stmt`."""
        return cls(
            id=int(row["id"]),
            project_id=int(row["project_id"]),
            kind=str(row["kind"]),
            ref=str(row["ref"]),
            attempts=int(row["attempts"]),
            last_error=str(row["last_error"] or ""),
            failed_ts=row["failed_ts"],
            retry_ts=row["retry_ts"],
        )


def failed_entries_stmt(limit: int) -> Select[Any]:
    """Return the query for the failed entries, most recently failed first."""
    return (
        select(
            _O.c.id, _O.c.project_id, _O.c.kind, _O.c.ref, _O.c.attempts, _O.c.last_error, _O.c.failed_ts, _O.c.retry_ts
        )
        .where(_O.c.attempts > 0)
        .order_by(_O.c.failed_ts.desc(), _O.c.id.desc())
        .limit(limit)
    )


def tracks_failures(conn: Connection) -> bool:
    """Tell whether the database records failed entries (a database not yet migrated does not)."""
    return "attempts" in {column["name"] for column in inspect(conn).get_columns("archive_outbox")}


def failed_entries(conn: Connection, limit: int = 20) -> list[FailedEntry]:
    """Return up to ``limit`` failed entries, most recently failed first."""
    return [FailedEntry.from_row(row) for row in conn.execute(failed_entries_stmt(limit)).mappings()]


def count_failed(conn: Connection) -> int:
    """Return how many queued entries have failed at least once."""
    return int(conn.execute(FAILED_COUNT).scalar_one())


def due_clause(now: datetime) -> Any:
    """Return the condition selecting entries the writer should try now."""
    return (_O.c.retry_ts.is_(None)) | (_O.c.retry_ts <= now)
