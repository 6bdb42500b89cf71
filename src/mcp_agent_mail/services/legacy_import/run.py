"""Import a mailbox of the original project: read it, map it, write it in one transaction, write the archive.

All or nothing: every row is inserted in ONE write transaction of this mailbox,
together with the archive work it queues, and the Git archive is written from
the database afterwards. Rows of the original that cannot be imported are
counted and left out; they never stop the import half-way. A dry run does the
same work in a transaction that is rolled back, and writes no archive file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import StaticPool

from mcp_agent_mail import archive
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import sqlite_path_from_url, sync_write_connection
from mcp_agent_mail.db.migrations import migrate
from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError
from mcp_agent_mail.services.legacy_import import plan as identity
from mcp_agent_mail.services.legacy_import import plan_mail as mail
from mcp_agent_mail.services.legacy_import.files import AttachmentCopier
from mcp_agent_mail.services.legacy_import.plan import Plan
from mcp_agent_mail.services.legacy_import.report import NOT_CARRIED, ImportReport
from mcp_agent_mail.services.legacy_import.source import Source, open_source
from mcp_agent_mail.services.legacy_import.target import read_target
from mcp_agent_mail.services.legacy_import.write import write_plan

ARCHIVE_NOTE = (
    "The original's archive files are not copied: the archive here is written from the imported rows, "
    "in this program's layout (Bcc names appear only in the sender's and that recipient's copies)."
)


class _RollBack(Exception):
    """Ends a dry run's transaction without committing it."""


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _refuse_own_mailbox(settings: Settings, database: Path, storage: Path) -> None:
    """Refuse a source that is this mailbox's own database or shares its archive folder."""
    own_db = sqlite_path_from_url(settings.database.url)
    real_db = Path(os.path.realpath(database))
    if own_db is not None and Path(os.path.realpath(own_db)) == real_db:
        raise InvalidArgumentError(
            f"{database} is this mailbox's own database, not the original's.",
            hint="Pass --database the original's storage.sqlite3; DATABASE_URL names where the mail goes.",
        )
    own_root = Path(os.path.realpath(settings.storage.root))
    if _overlap(Path(os.path.realpath(storage)), own_root):
        raise InvalidArgumentError(
            f"The original's archive folder {storage} and this mailbox's STORAGE_ROOT {own_root} overlap.",
            hint="Give this mailbox a STORAGE_ROOT of its own; the original's folder is only read.",
        )


@contextlib.contextmanager
def _transaction(settings: Settings, dry_run: bool) -> Iterator[Connection]:
    """Yield the import's one write transaction (a dry run's is rolled back and may be a scratch database)."""
    own_db = sqlite_path_from_url(settings.database.url)
    if dry_run and own_db is not None and not own_db.exists():
        # Nothing to compare with, and a dry run must not create the database: plan against an empty scratch copy.
        engine = create_engine("sqlite://", poolclass=StaticPool)
        try:
            with engine.connect() as conn:
                with conn.begin():
                    migrate(conn)
                with conn.begin() as transaction:
                    yield conn
                    transaction.rollback()
        finally:
            engine.dispose()
        return
    try:
        with sync_write_connection(settings) as conn:
            yield conn
            if dry_run:
                raise _RollBack
    except _RollBack:
        pass


def _refuse_non_empty(counts: dict[str, int]) -> None:
    held = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    raise InvalidArgumentError(
        f"This mailbox already holds mail ({held}); refusing to import into it.",
        hint="Pass --merge to add the original's mail (ids taken here are renumbered), "
        "or point DATABASE_URL and STORAGE_ROOT at a new mailbox.",
    )


def build_plan(conn: Connection, source: Source, settings: Settings, report: ImportReport) -> Plan:
    """Map every row of ``source`` against what ``conn``'s mailbox holds (refuses a non-empty one unless merging)."""
    target = read_target(conn)
    if not target.empty and not report.merge:
        _refuse_non_empty(target.counts)
    plan = Plan(report=report, target=target)
    ids = identity.allocators(conn, source)
    identity.map_projects(plan, source, ids["projects"])
    identity.map_agents(plan, source, ids["agents"])
    identity.map_links(plan, source, ids["contacts"])
    identity.map_windows(plan, source, ids["window_identities"])
    copier = AttachmentCopier(source.storage, settings.storage.attachment_max_bytes, report)
    mail.map_messages(plan, source, ids["messages"], copier)
    mail.map_recipients(plan, source)
    mail.map_reservations(plan, source, ids["file_reservations"])
    mail.map_summaries(plan, source, ids["summaries"])
    for kind, allocator in ids.items():
        if allocator.renumbered:
            report.renumbered[kind] = allocator.renumbered
    return plan


def import_legacy(
    settings: Settings, database: Path, storage: Path, *, dry_run: bool = False, merge: bool = False
) -> ImportReport:
    """Import the original's mailbox (database + archive folder) into this one; see the module docstring."""
    _refuse_own_mailbox(settings, Path(database), Path(storage))
    source = open_source(Path(database), Path(storage))
    report = ImportReport(dry_run=dry_run, merge=merge)
    for table in NOT_CARRIED:
        if source.table(table):
            report.not_carried[table] = len(source.table(table))
    with _transaction(settings, dry_run) as conn:
        plan = build_plan(conn, source, settings, report)
        report.archive_rows = write_plan(conn, plan)
    report.notes.append(ARCHIVE_NOTE)
    if dry_run:
        return report
    try:
        archive.flush_pending(settings)
    except AgentMailError as exc:
        report.notes.append(f"The archive is not written yet ({exc.message}); a running server writes it.")
    return report


__all__ = ["ARCHIVE_NOTE", "build_plan", "import_legacy"]
