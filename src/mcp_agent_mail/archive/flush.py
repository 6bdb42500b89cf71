"""Apply the archive outbox: render queued objects from the database and commit them, one commit per batch.

Rows are deleted (by id) only after their commit exists, and every file is a
function of the current database state, so a crash at any point is repaired by
running the same flush again.

A row that cannot be applied (it fails to render, or its files cannot be
written) never holds the others back and is never dropped: the batch commits
the rest, and the row stays queued with its attempt count, its last error and
a retry time that backs off (see :mod:`mcp_agent_mail.archive.outbox`). A
failure of the surroundings (the database, a full or read-only disk, another
writer moving the branch) fails the whole flush instead, and every row stays
as it was for the next one.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, RowMapping, delete, func, select, update
from sqlalchemy.exc import DBAPIError

from mcp_agent_mail.archive import outbox, paths, render
from mcp_agent_mail.archive.repo import (
    TMP_DIR,
    ArchiveBatch,
    clear_stale_locks,
    lock_timeout_error,
    maybe_pack,
    open_repo,
    writer_lock,
)
from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.db import schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.timeutil import iso, utcnow
from mcp_agent_mail.wording import counted

logger = logging.getLogger(__name__)

KINDS = ("project", "agent", "message", "receipt", "reservation")
_IN_CHUNK = 500
# OS errors that say the archive's disk, not one row, is at fault.
_ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM, errno.EMFILE, errno.ENFILE}
)

_Key = tuple[str, str]


@dataclass
class _Change:
    kind: str
    summary: str
    trailers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Planner:
    """Collects the files and commit lines for one batch of outbox rows."""

    conn: Connection
    batch: ArchiveBatch
    changes: list[_Change] = field(default_factory=list)
    digests: set[tuple[int, str]] = field(default_factory=set)
    prefetched: dict[tuple[str, int], render.Rendered | None] = field(default_factory=dict)

    def prefetch(self, kind: str, ids: list[int]) -> None:
        """Render the batch's messages (or agents) up front, one query per table for each chunk of ids."""
        many = render.render_messages if kind == "message" else render.render_agents
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rendered = many(self.conn, chunk)
            self.prefetched.update({(kind, one): rendered.get(one) for one in chunk})

    def _rendered(self, kind: str, ref: int) -> render.Rendered | None:
        key = (kind, ref)
        if key in self.prefetched:
            return self.prefetched[key]  # None: the row is gone
        one = render.render_message if kind == "message" else render.render_agent
        return one(self.conn, ref)

    def plan(self, kind: str, ref: str, project_id: int) -> None:
        """Plan one object; when that fails, leave the batch as it was before and re-raise."""
        batch = self.batch
        saved = (
            dict(batch.writes),
            set(batch.stage),
            set(batch.deletes),
            set(batch.delete_prefixes),
            len(self.changes),
            set(self.digests),
        )
        try:
            _plan_row(self, kind, ref, project_id)
        except BaseException:
            batch.writes, batch.stage, batch.deletes, batch.delete_prefixes = saved[0], saved[1], saved[2], saved[3]
            del self.changes[saved[4] :]
            self.digests = saved[5]
            raise

    def message_paths(self, message_id: int) -> set[str]:
        """Return tracked canonical/inbox/outbox paths of a message id."""
        return self.batch.message_paths(message_id)

    def add(self, kind: str, rendered: render.Rendered) -> None:
        """Queue the files of a rendered object."""
        self.batch.writes.update(rendered.files)
        self.batch.stage.update(rendered.stage)
        self.changes.append(_Change(kind, rendered.summary, rendered.trailers))

    def project(self, project_id: int) -> None:
        """Plan ``project.json`` (or remove the project folder when the project is gone)."""
        rendered = render.render_project(self.conn, project_id)
        if rendered is not None:
            self.add("project", rendered)
            return
        for path in self.batch.tracked():
            parts = path.split("/")
            is_project_file = len(parts) == 3 and parts[0] == "projects" and parts[2] == "project.json"
            if is_project_file and _json_id(self.batch.read_tracked(path)) == project_id:
                self.batch.delete_prefixes.add(paths.project_dir(parts[1]))
                self.changes.append(_Change("project", f"project: remove {parts[1]}"))

    def agent(self, project_id: int, agent_id: int) -> None:
        """Plan ``profile.json`` (or remove the agent folder when the agent is gone)."""
        rendered = self._rendered("agent", agent_id)
        if rendered is not None:
            self.add("agent", rendered)
            return
        project = render.load_project(self.conn, project_id)
        if project is None:
            return
        prefix = paths.project_dir(project["slug"]) + "/agents/"
        for path in self.batch.tracked():
            name, _, rest = path[len(prefix) :].partition("/") if path.startswith(prefix) else ("", "", "")
            if rest == "profile.json" and _json_id(self.batch.read_tracked(path)) == agent_id:
                self.batch.delete_prefixes.add(prefix + name)
                self.changes.append(_Change("agent", f"agent: remove {name}", [("Agent", name)]))

    def message(self, project_id: int, message_id: int, *, receipt: bool) -> None:
        """Plan every copy of a message (and its thread digests), removing stale or deleted copies."""
        existing = self.message_paths(message_id)
        rendered = self._rendered("message", message_id)
        if rendered is None:
            self.batch.deletes.update(existing)
            for path in existing:
                if "/inbox/" in path or "/outbox/" in path:
                    continue
                try:
                    front, _body = render.parse_message_document(self.batch.read_tracked(path) or b"")
                except ValueError:
                    continue
                if front.get("thread_id"):
                    self.digests.add((project_id, str(front["thread_id"])))
            self.digests.add((project_id, str(message_id)))
            trailers = [("Message-Id", str(message_id))]
            self.changes.append(_Change("delete", f"mail: remove message {message_id}", trailers))
            return
        self.batch.deletes.update(existing - set(rendered.files))
        if receipt:
            subject = rendered.summary.split(" | ", 1)[-1]
            rendered.summary = f"receipt: message {message_id} | {subject}"
            rendered.trailers = [("Message-Id", str(message_id))]
            self.add("receipt", rendered)
            return
        self.add("message", rendered)
        self.digests.update((project_id, key) for key in rendered.thread_keys)

    def reservation(self, project_id: int, reservation_id: int) -> None:
        """Plan a reservation file (or its removal)."""
        rendered = render.render_reservation(self.conn, reservation_id)
        if rendered is not None:
            self.add("reservation", rendered)
            return
        project = render.load_project(self.conn, project_id)
        if project is not None:
            self.batch.deletes.add(paths.reservation_file(project["slug"], reservation_id))
            self.changes.append(_Change("reservation", f"file_reservation: remove id-{reservation_id}"))

    def finish_digests(self) -> None:
        """Re-render every thread digest touched by this batch (a few queries per project)."""
        threaded = self._threaded_keys()
        by_project: dict[int, list[str]] = {}
        for project_id, key in sorted(self.digests):
            by_project.setdefault(project_id, []).append(key)
        for project_id, keys in by_project.items():
            project = render.load_project(self.conn, project_id)
            if project is None:
                continue
            # A message nobody replied to under its id has no digest to write or remove.
            wanted = [key for key in keys if (project_id, key) in threaded or self._digest_tracked(project, key)]
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                for path, content in render.render_thread_digests(self.conn, project, chunk).values():
                    if content is None:
                        self.batch.deletes.add(path)
                    else:
                        self.batch.writes[path] = content

    def _threaded_keys(self) -> set[tuple[int, str]]:
        """Return the touched digest keys that some message uses as its thread id (one query per project)."""
        m = schema.messages
        by_project: dict[int, list[str]] = {}
        for project_id, key in self.digests:
            by_project.setdefault(project_id, []).append(key)
        found: set[tuple[int, str]] = set()
        for project_id, keys in by_project.items():
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = keys[start : start + _IN_CHUNK]
                stmt = select(m.c.thread_id).where(m.c.project_id == project_id, m.c.thread_id.in_(chunk)).distinct()
                found.update((project_id, key) for key in self.conn.execute(stmt).scalars())
        return found

    def _digest_tracked(self, project: RowMapping, key: str) -> bool:
        if not paths.valid_thread_key(key):
            return False
        return self.batch.is_tracked(paths.thread_digest_file(project["slug"], key))


def _json_id(data: bytes | None) -> int | None:
    try:
        value = json.loads(data or b"null")
    except ValueError:
        return None
    return value.get("id") if isinstance(value, dict) else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def commit_message(changes: list[_Change]) -> str:
    """Compose a parseable commit message: one subject line, a body line per change, then trailers."""
    mail = [c for c in changes if c.kind == "message"]
    if len(changes) == 1:
        subject, rest = changes[0].summary, []
    elif len(mail) == 1:
        subject, rest = mail[0].summary, [c for c in changes if c is not mail[0]]
    else:
        subject, rest = f"archive: {counted(len(changes), 'change')}", changes
    text = _one_line(subject) or "archive: sync"
    if rest:
        text += "\n\n" + "\n".join(f"- {_one_line(c.summary)}" for c in rest)
    trailers: list[tuple[str, str]] = []
    for change in changes:
        for trailer in change.trailers:
            if trailer not in trailers:
                trailers.append(trailer)
    if trailers:
        text += "\n\n" + "\n".join(f"{k}: {_one_line(v)}" for k, v in trailers)
    return text + "\n"


def _plan_row(planner: _Planner, kind: str, ref: str, project_id: int) -> None:
    if kind == "project":
        planner.project(int(ref))
    elif kind == "agent":
        planner.agent(project_id, int(ref))
    elif kind in ("message", "receipt"):
        planner.message(project_id, int(ref), receipt=kind == "receipt")
    elif kind == "reservation":
        planner.reservation(project_id, int(ref))
    else:
        raise ValueError(f"unknown outbox kind {kind!r}")


def _fatal(exc: BaseException) -> bool:
    """Tell whether an error is the surroundings' (database, disk, another writer) rather than one row's."""
    if isinstance(exc, DBAPIError | UnavailableError | MemoryError):
        return True
    return isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS


def _group(rows: list[RowMapping]) -> dict[_Key, list[RowMapping]]:
    """Group rows by the object they re-render (a message's rendering also covers its receipts)."""
    groups: dict[_Key, list[RowMapping]] = {}
    for row in rows:
        kind, ref = row["kind"], row["ref"]
        if kind == "receipt" and ("message", ref) in groups:
            kind = "message"
        elif kind == "message" and ("receipt", ref) in groups:
            groups[("message", ref)] = groups.pop(("receipt", ref))
        groups.setdefault((kind, ref), []).append(row)
    return groups


def _commit_groups(settings: Settings, groups: dict[_Key, list[RowMapping]]) -> dict[_Key, Exception]:
    """Render and commit the groups as one batch; return the errors of groups that failed to render."""
    repo = open_repo(settings)
    batch = ArchiveBatch(repo, settings)
    failed: dict[_Key, Exception] = {}
    with sync_read_connection(settings) as conn:
        planner = _Planner(conn, batch)
        for kind, kinds in (("message", ("message", "receipt")), ("agent", ("agent",))):
            try:
                planner.prefetch(kind, [int(ref) for k, ref in groups if k in kinds and ref.isdigit()])
            except Exception as exc:
                if _fatal(exc):
                    raise
                logger.warning("archive outbox: cannot render %ss together (%s); rendering one by one", kind, exc)
        for (kind, ref), rows in groups.items():
            try:
                planner.plan(kind, ref, rows[0]["project_id"])
            except Exception as exc:
                if _fatal(exc):
                    raise
                failed[(kind, ref)] = exc
        planner.finish_digests()
    batch.commit(commit_message(planner.changes))
    return failed


def _apply_batch(settings: Settings, rows: list[RowMapping]) -> dict[int, Exception]:
    """Commit what the rows describe; return the error of every row that could not be applied, by row id."""
    groups = _group(rows)
    try:
        failed = _commit_groups(settings, groups)
    except Exception as exc:
        if _fatal(exc):
            raise
        if len(groups) == 1:
            failed = dict.fromkeys(groups, exc)
        else:
            logger.warning(
                "archive outbox: a batch of %d changes failed (%s); writing them one by one",
                len(groups),
                outbox.error_text(exc),
            )
            failed = _commit_one_by_one(settings, groups)
    return {row["id"]: error for key, error in failed.items() for row in groups[key]}


def _commit_one_by_one(settings: Settings, groups: dict[_Key, list[RowMapping]]) -> dict[_Key, Exception]:
    """Commit each group on its own, so that only the groups that fail stay behind."""
    failed: dict[_Key, Exception] = {}
    for key, rows in groups.items():
        try:
            failed.update(_commit_groups(settings, {key: rows}))
        except Exception as exc:
            if _fatal(exc):
                raise
            failed[key] = exc
    return failed


def _fetch(settings: Settings, limit: int) -> list[RowMapping]:
    """Return the next rows due for a try, oldest first."""
    o = schema.archive_outbox
    with sync_read_connection(settings) as conn:
        stmt = (
            select(o.c.id, o.c.project_id, o.c.kind, o.c.ref, o.c.attempts)
            .where(outbox.due_clause(utcnow()))
            .order_by(o.c.id)
            .limit(limit)
        )
        return list(conn.execute(stmt).mappings())


def _covered(rows: list[RowMapping]) -> set[_Key]:
    """Return the objects these applied rows re-rendered (a message's rendering covers its receipts)."""
    keys = {(row["kind"], row["ref"]) for row in rows}
    keys.update(("receipt", ref) for kind, ref in list(keys) if kind == "message")
    return keys


def _settle(settings: Settings, rows: list[RowMapping], failures: dict[int, Exception]) -> None:
    """Forget the applied rows (and older failed rows for the same objects); record the failures."""
    o = schema.archive_outbox
    applied = [row for row in rows if row["id"] not in failures]
    now = utcnow()
    with sync_write_connection(settings) as conn:
        done = [row["id"] for row in applied]
        if applied:
            covered = _covered(applied)
            stale = conn.execute(select(o.c.id, o.c.kind, o.c.ref).where(o.c.attempts > 0)).all()
            done += [row_id for row_id, kind, ref in stale if (kind, ref) in covered and row_id not in failures]
        for start in range(0, len(done), _IN_CHUNK):
            conn.execute(delete(o).where(o.c.id.in_(done[start : start + _IN_CHUNK])))
        logged: set[int] = set()
        for row in rows:
            exc = failures.get(row["id"])
            if exc is None:
                continue
            attempts = int(row["attempts"]) + 1
            retry = now + outbox.retry_delay(attempts)
            error = outbox.error_text(exc)
            conn.execute(
                update(o)
                .where(o.c.id == row["id"])
                .values(attempts=attempts, last_error=error, failed_ts=now, retry_ts=retry)
            )
            logger.error(
                "archive outbox: cannot apply %s %s (row %s, attempt %d); it stays queued, next try at %s: %s",
                row["kind"],
                row["ref"],
                row["id"],
                attempts,
                iso(retry),
                error,
                exc_info=exc if id(exc) not in logged else None,  # one traceback per error
            )
            logged.add(id(exc))


# Roots whose loose-object folders were checked for stale locks since this process last failed a batch.
_objects_checked: set[str] = set()


def _drain(settings: Settings, *, steady: bool = False) -> int:
    root = Path(settings.storage.root)
    shutil.rmtree(root / ".git" / TMP_DIR, ignore_errors=True)
    # Only the writer-lock holder writes the repository, so any Git lock file now is a dead writer's.
    # Loose-object locks are looked for once per process (and again after a failed batch).
    for lock in clear_stale_locks(root, objects=str(root) not in _objects_checked):
        logger.warning("archive: removed stale lock file %s", lock)
    _objects_checked.add(str(root))
    try:
        repo = open_repo(settings)
        total = 0
        while True:
            rows = _fetch(settings, settings.storage.batch_size)
            if not rows:
                if total:
                    maybe_pack(repo)
                return total
            failures = _apply_batch(settings, rows)
            # A failed row gets a retry time in the future, so the next fetch moves past it.
            _settle(settings, rows, failures)
            total += len(rows) - len(failures)
            if steady and len(rows) < settings.storage.batch_size:
                # Caught up: rows queued meanwhile wait for the next wake-up, so a steady stream of
                # writes becomes one commit per flush interval, not one per pass of this loop.
                maybe_pack(repo)
                return total
    except BaseException:
        _objects_checked.discard(str(root))
        raise


def flush_pending(settings: Settings | None = None, *, timeout: float = 30.0) -> int:
    """Apply every outbox row that is due (in batches, one commit each); return how many rows were applied.

    Rows that fail stay queued with their error and are not tried again before their retry time, so
    this always returns; :func:`failed_count` tells how many are left behind.
    """
    settings = settings or get_settings()
    root = Path(settings.storage.root)
    with writer_lock(root, timeout) as acquired:
        if not acquired:
            raise lock_timeout_error(root, timeout)
        return _drain(settings)


def try_flush(settings: Settings, *, timeout: float = 0.0, steady: bool = False) -> int | None:
    """Flush like :func:`flush_pending`, but return None instead of raising when the lock is busy.

    ``steady``: stop once a batch comes back short of ``batch_size`` (the writer loop's mode: what
    arrives meanwhile is flushed at the next wake-up) instead of draining until the outbox is empty.
    """
    root = Path(settings.storage.root)
    with writer_lock(root, timeout) as acquired:
        if not acquired:
            return None
        return _drain(settings, steady=steady)


@dataclass
class RetryReport:
    """What retrying the failed outbox rows did."""

    retried: int
    written: int
    still_failing: list[outbox.FailedEntry]


def retry_failed(settings: Settings | None = None, *, timeout: float = 30.0) -> RetryReport:
    """Try every failed outbox row again now (clearing its back-off), then flush; report what is still failing."""
    settings = settings or get_settings()
    root = Path(settings.storage.root)
    o = schema.archive_outbox
    with writer_lock(root, timeout) as acquired:
        if not acquired:
            raise lock_timeout_error(root, timeout)
        with sync_write_connection(settings) as conn:
            ids = set(conn.execute(select(o.c.id).where(o.c.attempts > 0)).scalars())
            if ids:
                conn.execute(update(o).where(o.c.attempts > 0).values(retry_ts=None))
        _drain(settings)
        left: list[outbox.FailedEntry] = []
        ordered = sorted(ids)
        with sync_read_connection(settings) as conn:
            for start in range(0, len(ordered), _IN_CHUNK):
                stmt = outbox.failed_entries_stmt(_IN_CHUNK).where(o.c.id.in_(ordered[start : start + _IN_CHUNK]))
                left += [outbox.FailedEntry.from_row(row) for row in conn.execute(stmt).mappings()]
    return RetryReport(retried=len(ids), written=len(ids) - len(left), still_failing=left)


def pending_count(settings: Settings | None = None) -> int:
    """Return how many outbox rows still wait for the archive (failed ones included)."""
    settings = settings or get_settings()
    o = schema.archive_outbox
    with sync_read_connection(settings) as conn:
        return int(conn.execute(select(func.count()).select_from(o)).scalar_one())


def failed_count(settings: Settings | None = None) -> int:
    """Return how many outbox rows failed at least once and are still queued."""
    settings = settings or get_settings()
    with sync_read_connection(settings) as conn:
        return outbox.count_failed(conn)


def due_count(settings: Settings | None = None) -> int:
    """Return how many outbox rows the writer should try now (rows waiting out a back-off excluded)."""
    settings = settings or get_settings()
    o = schema.archive_outbox
    with sync_read_connection(settings) as conn:
        stmt = select(func.count()).select_from(o).where(outbox.due_clause(utcnow()))
        return int(conn.execute(stmt).scalar_one())
