"""Read what an agent has waiting: unread, urgent and awaiting-acknowledgement counts, and who sent them.

One read-only connection: SQLite through the standard library (``mode=ro``, a
short busy timeout), PostgreSQL through psycopg (loaded only then) in a read-only
transaction with short connect and statement timeouts. Projects and agents are
found as the server finds them: a project by its absolute path or its slug, an
agent by its case-insensitive name.
"""

from __future__ import annotations

import posixpath
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.unread.locate import Database

BUSY_TIMEOUT_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 2
STATEMENT_TIMEOUT_MS = 2000
URGENT_LEVELS = ("high", "urgent")
_SLUG_RUN = re.compile(r"[^a-z0-9]+")

_PROJECT_BY_KEYS = "SELECT id, slug, human_key FROM projects WHERE human_key IN ({keys}) ORDER BY id"
_PROJECT_BY_SLUG = "SELECT id, slug, human_key FROM projects WHERE slug = ? ORDER BY id LIMIT 1"
_AGENTS = "SELECT id, name, name_key FROM agents WHERE project_id = ? AND retired_at IS NULL ORDER BY name_key"
_WAITING = """
SELECT r.agent_id,
       SUM(CASE WHEN r.read_ts IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.read_ts IS NULL AND m.importance IN ('high', 'urgent') THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.read_ts IS NULL AND m.ack_required THEN 1 ELSE 0 END),
       SUM(CASE WHEN m.ack_required AND r.ack_ts IS NULL THEN 1 ELSE 0 END)
FROM message_recipients AS r JOIN messages AS m ON m.id = r.message_id
WHERE r.agent_id IN ({ids}) AND (r.read_ts IS NULL OR (m.ack_required AND r.ack_ts IS NULL))
GROUP BY r.agent_id
"""
_SENDERS = """
SELECT r.agent_id, s.name, MAX(m.id) AS latest
FROM message_recipients AS r
JOIN messages AS m ON m.id = r.message_id
JOIN agents AS s ON s.id = m.sender_id
WHERE r.agent_id IN ({ids}) AND (r.read_ts IS NULL OR (m.ack_required AND r.ack_ts IS NULL))
GROUP BY r.agent_id, s.name
ORDER BY latest DESC
"""


class StatusError(Exception):
    """The status cannot be read: the reason, in one line fit for a hook's stderr."""


class AgentNotFound(StatusError):
    """The named agent is not registered in the project."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """What one agent has waiting in its inbox."""

    agent: str
    unread: int = 0
    urgent: int = 0
    """Unread messages of importance high or urgent."""
    unread_ack: int = 0
    """Unread messages that ask for an acknowledgement."""
    awaiting_ack: int = 0
    """Messages, read or not, whose acknowledgement is still due."""
    senders: tuple[str, ...] = ()
    """Who sent them, most recent first."""

    @property
    def anything(self) -> bool:
        """Tell whether there is something to say: unread mail or an acknowledgement due."""
        return self.unread > 0 or self.awaiting_ack > 0


@dataclass(frozen=True, slots=True)
class Status:
    """What the agents of one project have waiting (only agents with something waiting, most first)."""

    project_slug: str | None
    project_key: str | None
    agents: list[Waiting] = field(default_factory=list)
    note: str | None = None
    """Why there is nothing to report, when the mailbox or the project does not exist yet."""


class _Reader(Protocol):
    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...


class _SqliteReader:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self._db.execute(sql, tuple(params)).fetchall())


class _PostgresReader:
    def __init__(self, connection: Any) -> None:
        self._db = connection

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self._db.execute(sql.replace("?", "%s"), tuple(params)).fetchall())


def slugify(value: str) -> str:
    """Return the slug the server gives a project key (lower case, runs of other characters as ``-``)."""
    return _SLUG_RUN.sub("-", value.strip().lower()).strip("-") or "project"


def _path_keys(raw: str) -> list[str]:
    """Return ``raw``, its normalised form and the folders above it: a hook may run in a sub-directory."""
    keys = [raw]
    current = posixpath.normpath(raw)
    if current.startswith("//"):
        current = "/" + current.lstrip("/")
    while current != "/":
        keys.append(current)
        current = posixpath.dirname(current)
    return list(dict.fromkeys(keys))


def _find_project(reader: _Reader, project_key: str) -> tuple[int, str, str] | None:
    raw = project_key.strip()
    found: list[tuple[Any, ...]] = []
    if raw.startswith("/"):
        keys = _path_keys(raw)
        rows = reader.rows(_PROJECT_BY_KEYS.format(keys=", ".join("?" for _ in keys)), keys)
        # The deepest registered folder wins: a project inside another project's tree is its own.
        found = sorted(rows, key=lambda row: keys.index(str(row[2])))[:1]
    if not found:
        found = reader.rows(_PROJECT_BY_SLUG, (raw.lower(),))
    if not found and not raw.startswith("/"):
        found = reader.rows(_PROJECT_BY_SLUG, (slugify(raw),))
    if not found:
        return None
    project_id, slug, human_key = found[0]
    return int(project_id), str(slug), str(human_key)


def _waiting(reader: _Reader, agents: list[tuple[int, str]]) -> list[Waiting]:
    if not agents:
        return []
    ids = ", ".join("?" for _ in agents)
    params = [agent_id for agent_id, _ in agents]
    counts = {row[0]: row[1:] for row in reader.rows(_WAITING.format(ids=ids), params)}
    senders: dict[int, list[str]] = {}
    for agent_id, sender, _latest in reader.rows(_SENDERS.format(ids=ids), params):
        senders.setdefault(agent_id, []).append(str(sender))
    result = []
    for agent_id, name in agents:
        unread, urgent, unread_ack, awaiting = (int(n or 0) for n in counts.get(agent_id, (0, 0, 0, 0)))
        result.append(Waiting(name, unread, urgent, unread_ack, awaiting, tuple(senders.get(agent_id, ()))))
    return result


def _status(reader: _Reader, project_key: str, agent: str | None) -> Status:
    project = _find_project(reader, project_key)
    if project is None:
        return Status(None, None, note=f"no project {project_key!r} in the mailbox")
    project_id, slug, human_key = project
    agents = [(int(i), str(n), str(k)) for i, n, k in reader.rows(_AGENTS, (project_id,))]
    if agent is not None:
        wanted = name_key(agent)
        chosen = [(i, n) for i, n, k in agents if k == wanted]
        if not chosen:
            raise AgentNotFound(f"no agent {agent.strip()!r} in project {slug!r}")
    else:
        chosen = [(i, n) for i, n, _ in agents]
    waiting = [w for w in _waiting(reader, chosen) if w.anything]
    waiting.sort(key=lambda w: (-w.unread, -w.awaiting_ack, w.agent.lower()))
    return Status(slug, human_key, waiting)


@contextmanager
def _sqlite(path: Path) -> Iterator[_Reader]:
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise StatusError(f"cannot open {path}: {exc}") from None
    with closing(connection):
        try:
            yield _SqliteReader(connection)
        except sqlite3.Error as exc:
            why = str(exc)
            if "no such table" in why or "no such column" in why:
                why = f"not a mailbox database ({why})"
            raise StatusError(f"cannot read {path}: {why}") from None


@contextmanager
def _postgres(url: str) -> Iterator[_Reader]:
    try:
        import psycopg
    except ImportError:
        raise StatusError("DATABASE_URL names PostgreSQL but psycopg is not installed") from None
    try:
        connection = psycopg.connect(
            url, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name="mcp-agent-mail status"
        )
    except psycopg.Error as exc:
        raise StatusError(f"cannot reach PostgreSQL: {_one_line(exc)}") from None
    with closing(connection):
        try:
            connection.execute("SET TRANSACTION READ ONLY")
            connection.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            yield _PostgresReader(connection)
        except psycopg.Error as exc:
            raise StatusError(f"cannot read the PostgreSQL mailbox: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def read_status(database: Database, project_key: str, agent: str | None = None) -> Status:
    """Return what ``agent`` (or every agent of the project) has waiting; raise StatusError when it cannot be read."""
    if database.postgres_url is not None:
        with _postgres(database.postgres_url) as reader:
            return _status(reader, project_key, agent)
    path = database.sqlite_path
    if path is None:
        return Status(None, None, note="the mailbox is in memory: nothing to read from another process")
    if not path.exists():
        return Status(None, None, note=f"no mailbox yet at {path}")
    with _sqlite(path) as reader:
        return _status(reader, project_key, agent)


__all__ = [
    "URGENT_LEVELS",
    "AgentNotFound",
    "Status",
    "StatusError",
    "Waiting",
    "read_status",
    "slugify",
]
