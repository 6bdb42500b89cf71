"""Rebuild the database from the Git archive when the archive is all that survived.

The archive's files hold every column of projects, agents, messages, recipients
(with read/ack state), file reservations and contact links, plus the stored
attachment files, so those rows come back with their ids and timestamps. The
new database is created by the normal migrations in a temporary file next to
the old one, filled, checked by rendering it again (which must give the
archive's bytes back), and only then moved into place. An existing database is
never deleted: it is moved aside to ``<db>.backup-<UTC stamp>``. A database that
is not a file (PostgreSQL) gets the checked file's rows in one transaction
(:func:`mcp_agent_mail.db.snapshot.load_snapshot`), after its current tables were
copied into ``<data dir>/database.backup-<UTC stamp>.sqlite3``.
Registration token hashes are not in the archive; rebuilt agents have none.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dulwich.refs import HEADREF
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from mcp_agent_mail import archive
from mcp_agent_mail.archive.on_disk import (
    archive_source_files,
    attachment_sha,
    is_managed,
    open_existing_repo,
)
from mcp_agent_mail.archive.render import render_archive_files
from mcp_agent_mail.archive.repo import archive_quiet
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.engine import ensure_schema, reset_database_state, sqlite_path_from_url, sync_write_connection
from mcp_agent_mail.db.migrations import migrate, rebuild_fts
from mcp_agent_mail.db.snapshot import consistent_read, dump_to_sqlite, load_snapshot
from mcp_agent_mail.db.sqlite_facts import SQLITE_SIDECARS, set_connection_pragmas, table_names
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError, UnavailableError
from mcp_agent_mail.fsutil import backup_suffix, fsync_dir
from mcp_agent_mail.services.recovery.rebuild_parse import RecoveredRows, recover_rows
from mcp_agent_mail.services.recovery.restore_points import database_label
from mcp_agent_mail.services.recovery.server_registry import exclusive_mailbox
from mcp_agent_mail.services.recovery.staging import RESTORE_PREFIX, staging_dir

_CORE = ("projects", "agents", "messages", "message_recipients", "file_reservations")
_SEQUENCED = ("projects", "agents", "messages", "file_reservations", "agent_links", "archive_outbox")
_MESSAGE_ID_TRAILER = re.compile(r"^Message-Id: (\d+)\s*$", re.MULTILINE)
_REMOVED_MESSAGE = re.compile(r"remove message (\d+)")
_REMOVED_RESERVATION = re.compile(r"remove id-(\d+)")
_SAMPLE = 20


@dataclass
class DatabaseState:
    """What is at the database path now: ``missing``, ``empty``, ``data`` or ``unreadable``."""

    kind: str
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class RebuildResult:
    """What a rebuild recovered and where the previous database went."""

    db_path: Path | None
    counts: dict[str, int]
    backups: list[Path]
    warnings: list[str]
    from_history: int
    recipients_without_state: int
    sequences: dict[str, int]
    verification: dict[str, Any]
    previous: DatabaseState
    database: str = ""


def inspect_database(db_path: Path) -> DatabaseState:
    """Tell whether the database file is missing, empty, holds mail data, or cannot be read."""
    if not db_path.exists():
        return DatabaseState("missing")
    if db_path.stat().st_size == 0:
        return DatabaseState("empty", "the file is empty")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            names = table_names(conn)
            counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in _CORE if t in names}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return DatabaseState("unreadable", str(exc))
    return _judged(counts)


def _judged(counts: dict[str, int]) -> DatabaseState:
    if any(counts.values()):
        return DatabaseState("data", "", counts)
    return DatabaseState("empty", "no mail data", counts)


def inspect_mailbox(settings: Settings) -> DatabaseState:
    """Tell whether the configured database holds mail data, whatever its backend (creates nothing)."""
    path = sqlite_path_from_url(settings.database.url)
    if path is not None:
        return inspect_database(path)
    try:
        with consistent_read(settings) as conn:
            inspector = inspect(conn)
            counts = {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in _CORE
                if inspector.has_table(t)
            }
    except SQLAlchemyError as exc:
        return DatabaseState("unreadable", str(getattr(exc, "orig", None) or exc).splitlines()[0])
    return _judged(counts)


def _history_floors(root: Path) -> dict[str, int]:
    """Return the highest message and reservation ids ever named in the archive's commit messages."""
    floors = {"messages": 0, "file_reservations": 0}
    with open_existing_repo(root) as repo:
        if repo is None:
            return floors
        try:
            head = repo.refs[HEADREF]
        except KeyError:
            return floors
        for entry in repo.get_walker(include=[head]):
            message = entry.commit.message.decode("utf-8", "replace")
            for match in _MESSAGE_ID_TRAILER.finditer(message):
                floors["messages"] = max(floors["messages"], int(match.group(1)))
            for match in _REMOVED_MESSAGE.finditer(message):
                floors["messages"] = max(floors["messages"], int(match.group(1)))
            for match in _REMOVED_RESERVATION.finditer(message):
                floors["file_reservations"] = max(floors["file_reservations"], int(match.group(1)))
    return floors


def _engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        set_connection_pragmas(dbapi_connection, wal=False)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _insert(conn: Connection, rows: RecoveredRows) -> None:
    batches: list[tuple[Any, list[dict[str, Any]]]] = [
        (schema.projects, [rows.projects[k] for k in sorted(rows.projects)]),
        (schema.agents, [rows.agents[k] for k in sorted(rows.agents)]),
        (schema.messages, [rows.messages[k] for k in sorted(rows.messages)]),
        (schema.message_recipients, [rows.recipients[k] for k in sorted(rows.recipients)]),
        (schema.file_reservations, [rows.reservations[k] for k in sorted(rows.reservations)]),
        (schema.agent_links, [rows.links[k] for k in sorted(rows.links)]),
        (schema.attachment_blobs, [rows.blobs[k] for k in sorted(rows.blobs)]),
    ]
    for table, values in batches:
        for start in range(0, len(values), 500):
            conn.execute(table.insert(), values[start : start + 500])


def _raise_sequences(conn: Connection, floors: dict[str, int]) -> dict[str, int]:
    """Make every AUTOINCREMENT counter at least the largest id seen, so old ids are never handed out again."""
    result: dict[str, int] = {}
    for table in _SEQUENCED:
        top = int(conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one())
        floor = max(top, floors.get(table, 0))
        current = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar()
        if current is None:
            conn.exec_driver_sql("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, floor))
        elif int(current) < floor:
            conn.exec_driver_sql("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (floor, table))
        result[table] = max(floor, int(current or 0))
    return result


def _verify(conn: Connection, source: dict[str, bytes]) -> dict[str, Any]:
    """Render the rebuilt rows and compare with the archive's files (identical means the rebuild is exact)."""
    rendered = {
        path: data for path, data in render_archive_files(conn).items() if is_managed(path) or attachment_sha(path)
    }
    differ = sorted(p for p, data in rendered.items() if p in source and source[p] != data)
    only_rendered = sorted(p for p in rendered if p not in source)
    not_recovered = sorted(p for p in source if p not in rendered)
    report: dict[str, Any] = {
        "identical": not (differ or only_rendered or not_recovered),
        "files_compared": len(rendered),
    }
    for key, values in (("differ", differ), ("missing_in_archive", only_rendered), ("not_recovered", not_recovered)):
        if values:
            report[key] = len(values)
            report[f"{key}_sample"] = values[:_SAMPLE]
    return report


def _build(
    target: Path, rows: RecoveredRows, floors: dict[str, int], source: dict[str, bytes]
) -> tuple[dict[str, int], dict[str, Any]]:
    engine = _engine(target)
    try:
        with engine.begin() as conn:
            migrate(conn)
            _insert(conn, rows)
            rebuild_fts(conn)
            sequences = _raise_sequences(conn, floors)
        with engine.connect() as conn, conn.begin():
            verification = _verify(conn, source)
    finally:
        engine.dispose()
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
    return sequences, verification


def _swap(db_path: Path, new_db: Path) -> list[Path]:
    """Move the old database (and its -wal/-shm) aside, then link the new one into place; undo on failure."""
    suffix = backup_suffix([db_path], sidecars=SQLITE_SIDECARS)
    moved: list[tuple[Path, Path]] = []
    try:
        for extra in ("", *SQLITE_SIDECARS):
            current = Path(f"{db_path}{extra}")
            if os.path.lexists(current):
                backup = Path(f"{db_path}{suffix}{extra}")
                os.rename(current, backup)
                moved.append((current, backup))
        os.link(new_db, db_path)  # fails rather than replace a database that appeared meanwhile
    except OSError as exc:
        for original, backup in reversed(moved):
            with contextlib.suppress(OSError):
                os.rename(backup, original)
        raise UnavailableError(
            f"Could not put the rebuilt database in place ({exc}); the previous files are back where they were.",
            hint="Fix the cause named in the message and run the rebuild again.",
        ) from exc
    new_db.unlink()
    fsync_dir(db_path.parent)
    return [backup for _orig, backup in moved]


def _reset_process_caches() -> None:
    reset_database_state()
    archive.clear_repo_cache()


def _refuse_existing(db_path: Path | str, state: DatabaseState) -> None:
    if state.kind == "data":
        held = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in state.counts.items() if n)
        raise InvalidArgumentError(
            f"The database {db_path} already holds data ({held}); refusing to replace it.",
            hint="Pass --force to move it aside to <db>.backup-<time> and rebuild from the archive anyway.",
        )
    raise InvalidArgumentError(
        f"The database {db_path} exists but cannot be read ({state.detail}); refusing to replace it unasked.",
        hint="Pass --force to move it aside to <db>.backup-<time> and rebuild from the archive.",
    )


def _rebuild_in_place(
    settings: Settings, state: DatabaseState, rows: RecoveredRows, floors: dict[str, int], source: dict[str, bytes]
) -> tuple[dict[str, int], dict[str, Any], list[Path]]:
    """Build and check the rows in a SQLite file, then load them into the configured database in one transaction."""
    root = Path(settings.storage.root)
    root.parent.mkdir(parents=True, exist_ok=True)
    backups: list[Path] = []
    with staging_dir(root.parent, RESTORE_PREFIX) as stage:
        built = stage.path / "rebuilt.sqlite3"
        sequences, verification = _build(built, rows, floors, source)
        _reset_process_caches()
        ensure_schema(settings)
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with sync_write_connection(settings) as conn:
            if state.kind == "data":
                backup = data_dir / f"database{backup_suffix([data_dir / 'database'], sidecars=('.sqlite3',))}.sqlite3"
                dump_to_sqlite(conn, backup)
                backups.append(backup)
            load_snapshot(conn, built)
    return sequences, verification, backups


def rebuild_database(
    settings: Settings, *, force: bool = False, ignore_running: bool = False, lock_timeout: float = 30.0
) -> RebuildResult:
    """Recreate the database from the Git archive at STORAGE_ROOT (see the module docstring)."""
    db_path = sqlite_path_from_url(settings.database.url)
    root = Path(settings.storage.root)
    if not (root / "projects").is_dir() and not (root / ".git" / "HEAD").is_file():
        raise NotFoundError(
            f"There is no Git archive at {root} to rebuild from.",
            hint="Point STORAGE_ROOT at the surviving archive, or restore a saved restore point instead.",
        )
    label = database_label(settings)
    guard = contextlib.nullcontext() if ignore_running else exclusive_mailbox(settings)
    with guard:
        state = inspect_mailbox(settings)
        if state.kind in ("data", "unreadable") and not force:
            _refuse_existing(label, state)
        with archive_quiet(root, lock_timeout):
            source, from_history = archive_source_files(root)
            floors = _history_floors(root)
        rows = recover_rows(source)
        if not rows.projects:
            raise NotFoundError(
                f"The archive at {root} holds no readable project.json; nothing to rebuild.",
                hint="Check STORAGE_ROOT; `git -C <root> log` shows whether the archive has history.",
            )
        if db_path is None:
            sequences, verification, backups = _rebuild_in_place(settings, state, rows, floors, source)
        else:
            sequences, verification, backups = _rebuild_file(db_path, rows, floors, source)
        _reset_process_caches()
    return RebuildResult(
        db_path=db_path,
        counts=rows.counts(),
        backups=backups,
        warnings=rows.warnings,
        from_history=len(from_history),
        recipients_without_state=rows.recipients_without_state,
        sequences=sequences,
        verification=verification,
        previous=state,
        database=label,
    )


def _rebuild_file(
    db_path: Path, rows: RecoveredRows, floors: dict[str, int], source: dict[str, bytes]
) -> tuple[dict[str, int], dict[str, Any], list[Path]]:
    """Build the database in a temporary file next to ``db_path`` and swap it in."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    temp = db_path.parent / f".{db_path.name}.rebuild-{os.getpid()}.tmp"
    for extra in ("", "-journal", *SQLITE_SIDECARS):
        Path(f"{temp}{extra}").unlink(missing_ok=True)
    try:
        sequences, verification = _build(temp, rows, floors, source)
        _reset_process_caches()
        backups = _swap(db_path, temp)
    finally:
        for extra in ("", "-journal", *SQLITE_SIDECARS):
            Path(f"{temp}{extra}").unlink(missing_ok=True)
    return sequences, verification, backups


__all__ = ["DatabaseState", "RebuildResult", "inspect_database", "inspect_mailbox", "rebuild_database"]
