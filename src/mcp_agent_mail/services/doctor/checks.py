"""Health checks of a mailbox: database, schema, search index, Git archive, queue, locks, orphans, servers.

Checks only read. They never create the database, never migrate it and never
write to the archive, so ``doctor check`` is safe to run next to live servers.
The one exception is a restore that a crash interrupted: like every command
that opens the mailbox, ``doctor check`` first finishes it (see
:mod:`mcp_agent_mail.db.restore_journal`) and reports that it did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect
from sqlalchemy.exc import DBAPIError

from mcp_agent_mail.archive.on_disk import compare_archive, git_lock_files, idle_writer
from mcp_agent_mail.archive.outbox import count_failed, failed_entries, tracks_failures
from mcp_agent_mail.archive.render import render_archive_files
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import fulltext
from mcp_agent_mail.db.engine import DIRECTORY_HINT, get_sync_engine, is_sqlite, sqlite_path_from_url
from mcp_agent_mail.db.migrations import LATEST_VERSION, current_version
from mcp_agent_mail.db.sqlite_facts import (
    fts_coverage,
    fts_integrity_problem,
    has_fts_index,
    quick_check,
)
from mcp_agent_mail.db.types import UTCDateTime
from mcp_agent_mail.fsutil import directory_problem
from mcp_agent_mail.services.doctor.findings import ERROR, OK, WARNING, Finding, Report
from mcp_agent_mail.services.doctor.restore_state import check_restore, check_staging
from mcp_agent_mail.services.recovery.server_registry import describe_servers, running_servers
from mcp_agent_mail.services.storage_root import HINT as STORAGE_HINT
from mcp_agent_mail.services.storage_root import storage_root_problem
from mcp_agent_mail.timeutil import ensure_utc, iso, utcnow
from mcp_agent_mail.wording import agrees, counted

PENDING_WARN_AFTER = timedelta(minutes=1)
_SAMPLE = 20

# (label, table, condition selecting rows that point at something missing, repairable by deleting them)
ORPHANS: tuple[tuple[str, str, str, bool], ...] = (
    ("recipients_without_agent", "message_recipients", "agent_id NOT IN (SELECT id FROM agents)", True),
    ("recipients_without_message", "message_recipients", "message_id NOT IN (SELECT id FROM messages)", True),
    ("reservations_without_agent", "file_reservations", "agent_id NOT IN (SELECT id FROM agents)", True),
    ("messages_without_sender", "messages", "sender_id NOT IN (SELECT id FROM agents)", False),
    ("agents_without_project", "agents", "project_id NOT IN (SELECT id FROM projects)", False),
    ("sends_without_message", "client_sends", "message_id NOT IN (SELECT id FROM messages)", True),
)

# (child table, parent table) pairs whose dangling references ORPHANS already counts.
_COUNTED = frozenset(
    {
        ("message_recipients", "agents"),
        ("message_recipients", "messages"),
        ("file_reservations", "agents"),
        ("messages", "agents"),
        ("agents", "projects"),
        ("client_sends", "messages"),
        ("client_sends", "agents"),
        ("client_sends", "projects"),
    }
)


@contextlib.contextmanager
def read_connection(settings: Settings) -> Iterator[Connection]:
    """Yield a read transaction on the existing database without creating or migrating it."""
    engine = get_sync_engine(settings)
    with engine.connect() as conn, conn.begin():
        yield conn


def database_file(settings: Settings) -> Path | None:
    """Return the SQLite file of the configured database (None for other backends)."""
    return sqlite_path_from_url(settings.database.url)


def check_integrity(conn: Connection) -> Finding:
    """Run SQLite's quick_check (structure of every table and index page)."""
    if conn.dialect.name != "sqlite":
        return Finding(
            "database", OK, f"Database reachable ({conn.dialect.name}); page-level integrity checks are SQLite's."
        )
    rows = quick_check(conn)
    if not rows:
        return Finding("database", OK, "Database integrity check passed.")
    return Finding(
        "database",
        ERROR,
        f"Database integrity check found {counted(len(rows), 'problem')}.",
        {
            "problems": rows[:_SAMPLE],
            "hint": "Save a restore point, then rebuild with `doctor rebuild-db --from-archive --force`.",
        },
    )


def check_schema(conn: Connection) -> Finding:
    """Compare the applied migrations with the ones this version knows."""
    version = current_version(conn)
    details = {"current": version, "latest": LATEST_VERSION}
    if version == LATEST_VERSION:
        return Finding("schema", OK, f"Schema version {version} is current.", details)
    if version == 0:
        return Finding(
            "schema",
            ERROR,
            "The database has no mailbox schema.",
            {**details, "hint": "Start the server once, or run `doctor rebuild-db --from-archive`."},
        )
    if version < LATEST_VERSION:
        return Finding("schema", WARNING, f"Schema version {version} is behind {LATEST_VERSION}.", details, True)
    return Finding(
        "schema",
        ERROR,
        f"Schema version {version} is newer than this program ({LATEST_VERSION}).",
        {**details, "hint": "Upgrade mcp-agent-mail."},
    )


def check_fts(conn: Connection) -> Finding:
    """Check that every message, and nothing else, is in the full-text index."""
    if conn.dialect.name != "sqlite":
        return _check_fts_by_count(conn)
    if not has_fts_index(conn):
        return Finding(
            "fts_index",
            ERROR,
            "The full-text index table is missing.",
            {"hint": "Start the server once so migrations create it."},
        )
    coverage = fts_coverage(conn)
    missing, stale, messages = coverage.missing, coverage.stale, coverage.messages
    details: dict[str, Any] = {"messages": messages, "indexed": coverage.indexed}
    if missing:
        details.update(missing=len(missing), missing_ids_sample=missing[:_SAMPLE])
    if stale:
        details.update(stale=len(stale), stale_ids_sample=stale[:_SAMPLE])
    problem = None if (missing or stale) else fts_integrity_problem(conn)
    if problem:
        details["integrity_check"] = problem
    if missing or stale or problem:
        what = (
            f"{counted(len(missing), 'message')} missing from it, {counted(len(stale), 'stale entry', 'stale entries')}"
        )
        return Finding("fts_index", ERROR, f"Full-text index out of sync: {what}.", details, True)
    return Finding("fts_index", OK, f"Full-text index covers all {counted(messages, 'message')}.", details)


def _check_fts_by_count(conn: Connection) -> Finding:
    """Compare how many messages the database's own full-text index holds with how many there are."""
    messages = int(conn.exec_driver_sql("SELECT count(*) FROM messages").scalar_one())
    try:
        with conn.begin_nested():
            indexed = fulltext.indexed_count(conn)
    except DBAPIError as exc:
        return Finding(
            "fts_index",
            ERROR,
            f"The full-text index cannot be read: {str(exc.orig).splitlines()[0]}.",
            {"hint": "Run `mcp-agent-mail doctor repair` to rebuild it."},
            True,
        )
    details: dict[str, Any] = {"messages": messages, "indexed": indexed}
    if indexed != messages:
        return Finding(
            "fts_index",
            ERROR,
            f"Full-text index out of sync: {indexed} of {counted(messages, 'message')} indexed.",
            details,
            True,
        )
    return Finding("fts_index", OK, f"Full-text index covers all {counted(messages, 'message')}.", details)


def check_pending(conn: Connection) -> Finding:
    """Report archive changes still queued (failed ones aside), and whether they have waited too long."""
    untried = " WHERE attempts = 0" if tracks_failures(conn) else ""
    row = conn.exec_driver_sql(f"SELECT count(*), min(created_ts) FROM archive_outbox{untried}").one()
    count = int(row[0])
    if not count:
        return Finding("archive_queue", OK, "No archive changes are waiting.", {"pending": 0})
    oldest = UTCDateTime().process_result_value(row[1], conn.dialect)
    age = utcnow() - ensure_utc(oldest) if oldest else timedelta(0)
    details = {"pending": count, "oldest": iso(oldest), "oldest_age_seconds": round(age.total_seconds(), 1)}
    if age > PENDING_WARN_AFTER:
        return Finding(
            "archive_queue",
            WARNING,
            f"{counted(count, 'archive change')} {agrees(count, 'has', 'have')} waited {int(age.total_seconds())} s "
            "(no writer running?).",
            details,
            True,
        )
    return Finding(
        "archive_queue",
        OK,
        f"{counted(count, 'archive change')} {agrees(count, 'is', 'are')} being written.",
        details,
        True,
    )


def check_failed(conn: Connection) -> Finding:
    """Report archive changes the writer tried and could not apply, with their last errors."""
    if not tracks_failures(conn):
        return Finding("archive_failed", OK, "No archive change has failed.", {"failed": 0})
    count = count_failed(conn)
    if not count:
        return Finding("archive_failed", OK, "No archive change has failed.", {"failed": 0})
    entries = failed_entries(conn, _SAMPLE)
    details: dict[str, Any] = {
        "failed": count,
        "changes": [entry.describe() for entry in entries],
        "hint": "Fix what the errors name (a damaged file or folder in the archive, a bad row), then run "
        "`mcp-agent-mail doctor repair` to retry them now; the server also retries them, at most hourly.",
    }
    return Finding(
        "archive_failed",
        ERROR,
        f"{counted(count, 'archive change')} could not be written; "
        f"{agrees(count, 'it stays queued and is', 'they stay queued and are')} retried.",
        details,
        True,
    )


def check_archive(conn: Connection, root: Path, pending: int) -> Finding:
    """Compare the database's projection with the work tree and the last commit of the archive."""
    if (problem := storage_root_problem(root)) is not None:
        return Finding("archive", ERROR, problem, {"hint": STORAGE_HINT}, False)
    expected = render_archive_files(conn)
    drift = compare_archive(expected, root)
    details = drift.details()
    projects = sum(1 for p in expected if p.endswith("/project.json") and p.count("/") == 2)
    archived_projects = sum(1 for p in drift.extra if p.endswith("/project.json") and p.count("/") == 2)
    if drift.clean:
        return Finding("archive", OK, f"Archive matches the database ({len(expected)} files).", details)
    if projects == 0 and not drift.has_repo and not drift.extra:
        return Finding("archive", OK, "No archive yet; it is created with the first project.", details)
    if projects == 0 and archived_projects:
        details["hint"] = "Run `mcp-agent-mail doctor rebuild-db --from-archive --force` to recover the database."
        return Finding(
            "archive",
            ERROR,
            f"The database holds no project but the archive holds {archived_projects}: the database looks lost.",
            details,
            False,
        )
    parts = []
    for key, label in (
        ("missing_worktree", "missing"),
        ("differ_worktree", "changed"),
        ("missing_committed", "uncommitted"),
        ("differ_committed", "committed differently"),
        ("extra", "without a database row"),
    ):
        if details.get(key):
            parts.append(f"{details[key]} {label}")
    message = f"Archive differs from the database: {', '.join(parts)} file(s)."
    if pending:
        details["pending"] = pending
        return Finding(
            "archive", WARNING, message + f" {counted(pending, 'queued change')} may explain it.", details, True
        )
    return Finding("archive", ERROR, message, details, True)


def check_locks(root: Path) -> Finding:
    """Report Git lock files left behind with no writer running (never judged by age)."""
    locks = git_lock_files(root)
    if not locks:
        return Finding("locks", OK, "No Git lock files.")
    rel = [str(p.relative_to(root)) for p in locks]
    with idle_writer(root) as idle:
        if not idle:
            return Finding(
                "locks",
                OK,
                f"{counted(len(locks), 'Git lock file')} held by the running archive writer.",
                {"held": rel},
            )
    return Finding(
        "locks", ERROR, f"{counted(len(locks), 'stale Git lock file')} with no writer running.", {"stale": rel}, True
    )


def check_orphans(conn: Connection) -> Finding:
    """Count rows that point at missing projects, agents or messages."""
    present = set(inspect(conn).get_table_names())
    counts = {
        label: int(conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {condition}").scalar_one())
        for label, table, condition, _fix in ORPHANS
        if table in present  # a table an older schema lacks has no orphans yet
    }
    found = {k: v for k, v in counts.items() if v}
    if conn.dialect.name == "sqlite":
        # Rows the queries above already count show up here too; count only the others.
        fk = [row for row in conn.exec_driver_sql("PRAGMA foreign_key_check") if (row[0], row[2]) not in _COUNTED]
        if fk:
            found["foreign_key_violations"] = len(fk)
    if not found:
        return Finding("orphans", OK, "No orphaned rows.")
    repairable = all(k in {label for label, _t, _c, fix in ORPHANS if fix} for k in found)
    return Finding(
        "orphans", ERROR, f"Orphaned rows: {', '.join(f'{v} {k}' for k, v in found.items())}.", found, repairable
    )


def check_servers(settings: Settings) -> Finding:
    """List the servers using this mailbox (for information)."""
    servers = running_servers(settings)
    if not servers:
        return Finding("servers", OK, "No server is running on this mailbox.", {"running": []})
    return Finding("servers", OK, f"Running: {describe_servers(servers)}.", {"running": servers})


def _database_directory_unusable(db_path: Path | None) -> Finding | None:
    """Report a SQLite database whose folder is a file or cannot be written (None when it is fine)."""
    if db_path is None or (problem := directory_problem(db_path.parent)) is None:
        return None
    return Finding(
        "database",
        ERROR,
        f"The database's directory {db_path.parent} {problem}.",
        {"path": str(db_path), "hint": DIRECTORY_HINT},
    )


def _database_missing(settings: Settings, db_path: Path | None) -> Finding | None:
    if db_path is None or (db_path.exists() and db_path.stat().st_size > 0):
        return None
    root = Path(settings.storage.root)
    hint = (
        "Run `mcp-agent-mail doctor rebuild-db --from-archive`."
        if (root / "projects").is_dir()
        else "Start the server once to create it."
    )
    what = "is empty" if db_path.exists() else "does not exist"
    return Finding("database", ERROR, f"The database {db_path} {what}.", {"path": str(db_path), "hint": hint})


def _database_checks(settings: Settings, root: Path) -> list[Finding]:
    findings: list[Finding] = []
    try:
        with read_connection(settings) as conn:
            findings.append(check_integrity(conn))
            if findings[-1].status == ERROR:
                return findings
            schema = check_schema(conn)
            findings.append(schema)
            if current_version(conn) == 0:
                return findings
            findings.append(check_fts(conn))
            pending = check_pending(conn)
            findings.append(pending)
            failed = check_failed(conn)
            findings.append(failed)
            findings.append(check_orphans(conn))
            queued = int(pending.details.get("pending", 0)) + int(failed.details.get("failed", 0))
            findings.append(check_archive(conn, root, queued))
    except DBAPIError as exc:
        findings.append(
            Finding(
                "database",
                ERROR,
                f"The database cannot be read: {exc.orig}.",
                {"hint": "Rebuild it with `doctor rebuild-db --from-archive --force`."},
            )
        )
    return findings


def run_checks(settings: Settings) -> Report:
    """Run every check and return the findings (reads only, once an interrupted restore is finished)."""
    root = Path(settings.storage.root)
    db_path = database_file(settings)
    findings: list[Finding] = []
    unusable = _database_directory_unusable(db_path)
    if unusable is not None:
        findings.append(unusable)  # no restore can be pending there, and no database can be read
    else:
        restore = check_restore(settings)
        if restore is not None:
            findings.append(restore)
        missing = _database_missing(settings, db_path) if is_sqlite(settings.database.url) else None
        if missing is not None:
            findings.append(missing)
        else:
            findings.extend(_database_checks(settings, root))
    findings.append(check_locks(root))
    findings.append(check_servers(settings))
    staging = check_staging(settings)
    if staging is not None:
        findings.append(staging)
    return Report(findings)


__all__ = ["ORPHANS", "read_connection", "run_checks"]
