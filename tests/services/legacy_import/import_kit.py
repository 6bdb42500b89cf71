"""Helpers for the import tests: build the original's mailbox, import it, read what landed (any backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from legacy_fixture import LegacyMailbox, build_legacy_mailbox
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema, sync_read_connection
from mcp_agent_mail.services.doctor.checks import run_checks
from mcp_agent_mail.services.legacy_import import ImportReport, import_legacy

TABLES = (
    schema.projects,
    schema.agents,
    schema.messages,
    schema.message_recipients,
    schema.file_reservations,
    schema.agent_links,
    schema.window_identities,
    schema.message_summaries,
    schema.attachment_blobs,
    schema.archive_outbox,
)


def legacy(env: dict[str, Path], *, hostile: bool = False) -> LegacyMailbox:
    """Build the original's mailbox beside the test's own."""
    return build_legacy_mailbox(env["tmp_path"] / "original", hostile=hostile)


def run_import(mailbox: LegacyMailbox, **options: Any) -> ImportReport:
    """Import ``mailbox`` into the test's mailbox."""
    return import_legacy(get_settings(), mailbox.database, mailbox.storage, **options)


def counts() -> dict[str, int]:
    """Return the row count of every mailbox table."""
    with sync_read_connection() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in TABLES}


def rows(table: Any, *order: Any) -> list[dict[str, Any]]:
    """Return every row of ``table`` as dicts, in ``order``."""
    with sync_read_connection() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(*order)).mappings()]


def doctor_problems() -> list[str]:
    """Return the findings of ``doctor check`` that are not OK."""
    report = run_checks(get_settings())
    return [f"{f.name}: {f.message} {f.details}" for f in report.findings if f.status != "ok"]


def archive_files(storage: Path) -> dict[str, bytes]:
    """Return every file of the archive's work tree under projects/ (path -> bytes)."""
    base = storage / "projects"
    if not base.exists():
        return {}
    return {str(p.relative_to(storage)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}
