"""Repair what ``doctor check`` finds: stale Git locks, the search index, orphaned rows, the archive queue and drift.

Before changing anything a ``pre-repair`` restore point is saved (database and
archive, unaltered), so every repair can be undone with ``archive restore``.
Archive drift is fixed by writing the database's projection through the
archive's own batch machinery under the writer lock: one commit, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from mcp_agent_mail.archive.flush import flush_pending, retry_failed
from mcp_agent_mail.archive.on_disk import compare_archive, idle_writer
from mcp_agent_mail.archive.render import render_archive_files
from mcp_agent_mail.archive.repo import ArchiveBatch, clear_stale_locks, lock_timeout_error, open_repo, writer_lock
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import fulltext
from mcp_agent_mail.db.engine import ensure_schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.db.migrations import rebuild_fts
from mcp_agent_mail.errors import AgentMailError, UnavailableError
from mcp_agent_mail.services.doctor.checks import ORPHANS, run_checks
from mcp_agent_mail.services.doctor.findings import OK, Report
from mcp_agent_mail.services.doctor.restore_state import remove_staging
from mcp_agent_mail.services.recovery.restore_points import save_restore_point
from mcp_agent_mail.wording import counted

_BODY_LINES = 50


@dataclass
class RepairAction:
    """One repair step: what it fixes, and (after running) what it did."""

    check: str
    description: str
    result: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of the action."""
        data = {"check": self.check, "description": self.description}
        if self.result:
            data["result"] = self.result
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class RepairOutcome:
    """What ``doctor repair`` planned, did and found afterwards."""

    before: Report
    actions: list[RepairAction]
    dry_run: bool
    restore_point: Path | None = None
    after: Report | None = None

    @property
    def failed(self) -> bool:
        """True when a step failed or the final check still reports errors."""
        return any(a.error for a in self.actions) or (self.after is not None and self.after.has_errors)


_DESCRIPTIONS = {
    "locks": "remove stale Git lock files",
    "schema": "apply pending schema migrations",
    "orphans": "delete recipient and reservation rows whose agent or message is gone",
    "fts_index": "rebuild the full-text search index",
    "archive_queue": "write the queued archive changes (flush the outbox)",
    "archive_failed": "retry the archive changes that failed, now (they stay queued if they fail again)",
    "archive": "re-project the archive from the database (write missing/changed files, remove extra ones, commit)",
    "staging": "remove the working folders of killed saves and restores",
}
_ORDER = ("locks", "schema", "orphans", "fts_index", "archive_queue", "archive_failed", "archive", "staging")


def plan_repair(settings: Settings) -> tuple[Report, list[RepairAction]]:
    """Run the checks and list the repairs they call for (changes nothing)."""
    report = run_checks(settings)
    actions = []
    for name in _ORDER:
        finding = report.get(name)
        if finding is None or not finding.repairable:
            continue
        pending = name == "archive_queue" and finding.details.get("pending", 0)
        if finding.status != OK or pending:
            actions.append(RepairAction(name, _DESCRIPTIONS[name]))
    return report, actions


def remove_stale_locks(root: Path) -> list[str]:
    """Delete Git lock files while holding the writer lock (so no writer can be using them); return their paths."""
    with idle_writer(root) as idle:
        if not idle:
            raise UnavailableError(
                "The archive writer is running, so its Git lock files are not stale.",
                hint="Let the writer finish; run `doctor check` again afterwards.",
            )
        return [str(lock.relative_to(root)) for lock in clear_stale_locks(root)]


def delete_orphans(settings: Settings) -> int:
    """Delete recipient and reservation rows that point at a missing agent or message; return how many."""
    total = 0
    with sync_write_connection(settings) as conn:
        present = set(inspect(conn).get_table_names())
        for _label, table, condition, fixable in ORPHANS:
            if fixable and table in present:
                total += int(conn.exec_driver_sql(f"DELETE FROM {table} WHERE {condition}").rowcount or 0)
    return total


def reproject_archive(settings: Settings, *, timeout: float = 30.0) -> tuple[list[str], list[str], str | None]:
    """Write missing/changed projection files, remove extra ones, commit once; return (written, removed, sha)."""
    root = Path(settings.storage.root)
    with writer_lock(root, timeout) as acquired:
        if not acquired:
            raise lock_timeout_error(root, timeout)
        repo = open_repo(settings)
        with sync_read_connection(settings) as conn:
            expected = render_archive_files(conn)
        drift = compare_archive(expected, root)
        written, removed = drift.to_write, drift.extra
        if not written and not removed:
            return [], [], None
        batch = ArchiveBatch(repo, settings, {p: expected[p] for p in written}, deletes=set(removed))
        lines = [f"- write {p}" for p in written] + [f"- remove {p}" for p in removed]
        if len(lines) > _BODY_LINES:
            lines = [*lines[:_BODY_LINES], f"- ... and {len(lines) - _BODY_LINES} more"]
        subject = f"doctor: re-project archive ({len(written)} written, {len(removed)} removed)"
        sha = batch.commit(subject + "\n\n" + "\n".join(lines) + "\n")
    return written, removed, sha.decode() if sha else None


def _run_locks(settings: Settings) -> str:
    removed = remove_stale_locks(Path(settings.storage.root))
    return f"removed {', '.join(removed)}" if removed else "no lock files left"


def _run_schema(settings: Settings) -> str:
    ensure_schema(settings)
    return "schema is current"


def _run_orphans(settings: Settings) -> str:
    return f"deleted {counted(delete_orphans(settings), 'orphaned row')}"


def _run_fts(settings: Settings) -> str:
    with sync_write_connection(settings) as conn:
        rebuild_fts(conn)
        count = fulltext.indexed_count(conn)
    return f"index rebuilt ({counted(count, 'message')})"


def _run_queue(settings: Settings) -> str:
    return f"wrote {counted(flush_pending(settings), 'queued change')}"


def _run_failed(settings: Settings) -> str:
    report = retry_failed(settings)
    if report.still_failing:
        shown = "; ".join(entry.describe() for entry in report.still_failing[:3])
        more = f" (and {len(report.still_failing) - 3} more)" if len(report.still_failing) > 3 else ""
        raise UnavailableError(
            f"wrote {report.written} of {counted(report.retried, 'failed archive change')}; "
            f"{len(report.still_failing)} still fail: {shown}{more}",
            hint="Fix what the errors name, then run `mcp-agent-mail doctor repair` again.",
        )
    return f"wrote {counted(report.written, 'failed archive change')}"


def _run_archive(settings: Settings) -> str:
    written, removed, sha = reproject_archive(settings)
    if not written and not removed:
        return "archive already matches the database"
    commit = f"commit {sha[:12]}" if sha else "work tree restored (the commit already held these files)"
    return f"wrote {counted(len(written), 'file')}, removed {counted(len(removed), 'file')}; {commit}"


def _run_staging(settings: Settings) -> str:
    return remove_staging(settings)


_RUNNERS: dict[str, Callable[[Settings], str]] = {
    "locks": _run_locks,
    "schema": _run_schema,
    "orphans": _run_orphans,
    "fts_index": _run_fts,
    "archive_queue": _run_queue,
    "archive_failed": _run_failed,
    "archive": _run_archive,
    "staging": _run_staging,
}


def execute_repair(settings: Settings, states_dir: Path, before: Report, actions: list[RepairAction]) -> RepairOutcome:
    """Save a ``pre-repair`` restore point, run ``actions`` in order and check again."""
    outcome = RepairOutcome(before, actions, dry_run=False)
    if not actions:
        return outcome
    pending = list(actions)
    if pending[0].check == "locks":
        # A stale index.lock would make the restore point's flush fail; removing it changes no data.
        lock_action = pending.pop(0)
        _run_one(settings, lock_action)
    saved = save_restore_point(settings, states_dir, label="pre-repair")
    outcome.restore_point = saved.path
    for action in pending:
        _run_one(settings, action)
    outcome.after = run_checks(settings)
    return outcome


def _run_one(settings: Settings, action: RepairAction) -> None:
    try:
        action.result = _RUNNERS[action.check](settings)
    except AgentMailError as exc:
        action.error = f"{exc.code}: {exc.message}"
    except Exception as exc:
        action.error = f"{type(exc).__name__}: {exc}"


__all__ = [
    "RepairAction",
    "RepairOutcome",
    "delete_orphans",
    "execute_repair",
    "plan_repair",
    "remove_stale_locks",
    "reproject_archive",
]
