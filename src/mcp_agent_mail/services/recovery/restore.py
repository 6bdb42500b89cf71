"""Restore a saved restore point: verify, rebuild it in staging, move the current data aside, swap it in.

Nothing live is touched until the restore point has been verified completely and
rebuilt next to the live data: the database as a fresh file made by this
version's migrations holding the snapshot's rows (:mod:`.restore_db`), the Git
archive without hooks, redirections or foreign config (:mod:`.restore_git`).
The database (with its ``-wal``/``-shm``) and the storage root are then *moved*
aside to ``<name>.backup-<UTC stamp>`` siblings, never deleted, under a journal
(:mod:`mcp_agent_mail.db.restore_journal`): a failure puts back exactly what was
there before, and a crash at any instant is finished by the next process that
opens the mailbox.

A database that is not a file (PostgreSQL) cannot be swapped: once everything is
staged, a ``pre-restore`` restore point of the current mailbox is saved, and the
mailbox's tables are replaced in one database transaction
(:func:`mcp_agent_mail.db.snapshot.load_snapshot`) that commits only after the
storage root was swapped, so an error or a crash before the commit leaves the
previous rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError

from mcp_agent_mail import archive
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.engine import ensure_schema, reset_database_state, sqlite_path_from_url, sync_write_connection
from mcp_agent_mail.db.restore_journal import (
    BACK,
    Journal,
    Step,
    crash_for_tests,
    finish_interrupted_restore,
    journal_path,
    pending_stages,
    run_back,
    run_forward,
)
from mcp_agent_mail.db.snapshot import SnapshotError, has_mailbox, load_snapshot
from mcp_agent_mail.db.sqlite_facts import SQLITE_SIDECARS
from mcp_agent_mail.errors import ArchiveError, ConfigurationError, UnavailableError
from mcp_agent_mail.fsutil import backup_suffix
from mcp_agent_mail.services.recovery import restore_git, zipsafe
from mcp_agent_mail.services.recovery.restore_db import RebuiltDatabase, SnapshotRefused, rebuild_snapshot
from mcp_agent_mail.services.recovery.restore_points import STATES_DIR_NAME, database_label, save_restore_point
from mcp_agent_mail.services.recovery.server_registry import exclusive_mailbox
from mcp_agent_mail.services.recovery.staging import RESTORE_PREFIX, staging_dir, sweep_abandoned


@dataclass
class RestorePlan:
    """What a restore will do, computed without changing anything."""

    restore_point: Path
    metadata: dict[str, Any]
    db_path: Path | None  # None: the database is not a file, its tables are replaced in place
    storage_root: Path
    backup_suffix: str
    moves_aside: list[tuple[Path, Path]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    database: str = ""

    def lines(self) -> list[str]:
        """Describe the plan as bullet lines for people."""
        out = []
        if self.db_path is None:
            out.append(f"save a pre-restore restore point of {self.database} (if it holds a mailbox)")
        out.extend(f"back up {src} -> {dst}" for src, dst in self.moves_aside)
        if self.db_path is None:
            out.append(f"replace every mailbox table of {self.database} with the snapshot's rows (one transaction)")
        else:
            out.append(f"restore database snapshot -> {self.db_path}")
        out.append(f"restore storage repository -> {self.storage_root}")
        return out


@dataclass
class RestoreResult:
    """What a completed restore changed."""

    plan: RestorePlan
    backups: list[Path]
    storage_files: int
    notes: list[str] = field(default_factory=list)
    recovered: str | None = None
    swept: list[Path] = field(default_factory=list)
    previous_point: Path | None = None


def _refresh_moves(plan: RestorePlan) -> None:
    """Recompute what exists now and where it will be moved (the WAL may vanish when connections close)."""
    files = [plan.storage_root] if plan.db_path is None else [plan.db_path, plan.storage_root]
    suffix = backup_suffix(files, sidecars=SQLITE_SIDECARS)
    plan.backup_suffix = suffix
    plan.moves_aside = []
    for extra in ("", *SQLITE_SIDECARS) if plan.db_path is not None else ():
        current = Path(f"{plan.db_path}{extra}")
        if os.path.lexists(current):
            plan.moves_aside.append((current, Path(f"{plan.db_path}{suffix}{extra}")))
    if os.path.lexists(plan.storage_root):
        plan.moves_aside.append((plan.storage_root, Path(f"{plan.storage_root}{suffix}")))


def plan_restore(settings: Settings, verified: zipsafe.VerifiedRestorePoint) -> RestorePlan:
    """Compute the moves of a restore of ``verified`` over the configured database and storage root."""
    db_path = sqlite_path_from_url(settings.database.url)
    storage_root = Path(settings.storage.root)
    if db_path is not None and db_path.is_relative_to(storage_root):
        raise ConfigurationError(
            f"The database {db_path} lies inside the storage root {storage_root}; restore cannot swap them safely.",
            hint="Keep DATABASE_URL outside STORAGE_ROOT.",
        )
    if verified.path.is_relative_to(storage_root):
        raise ConfigurationError(
            f"The restore point {verified.path} lies inside the storage root it would replace.",
            hint="Move the restore point elsewhere (e.g. the folder `archive list` shows) and try again.",
        )
    target = database_label(settings)
    plan = RestorePlan(verified.path, verified.metadata, db_path, storage_root, "", database=target)
    _refresh_moves(plan)
    source = (
        verified.metadata.get("database", {}).get("source_path")
        if isinstance(verified.metadata.get("database"), dict)
        else None
    )
    if source and source != target:
        plan.warnings.append(f"The restore point was saved from {source}; it will be restored to {target}.")
    return plan


def _check_free_space(plan: RestorePlan, verified: zipsafe.VerifiedRestorePoint) -> None:
    near = plan.db_path if plan.db_path is not None else plan.storage_root
    parent = near.parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if verified.total_bytes > free:
        raise UnavailableError(
            f"The restore needs {verified.total_bytes} bytes but only {free} are free near {near}.",
            hint="Free some disk space and try again.",
        )


def _restore_database(verified: zipsafe.VerifiedRestorePoint, stage: Path, target: Path) -> RebuiltDatabase:
    """Extract the snapshot into ``stage`` and rebuild it as a fresh database at ``target``."""
    snapshot = stage / "snapshot.sqlite3"
    zipsafe.extract_file(verified, verified.snapshot_member, snapshot)
    try:
        return rebuild_snapshot(snapshot, target, verified.path)
    except SnapshotRefused as exc:
        raise zipsafe.invalid(verified.path, str(exc)) from exc
    finally:
        snapshot.unlink(missing_ok=True)


def _restore_storage(verified: zipsafe.VerifiedRestorePoint, target: Path) -> tuple[int, list[str]]:
    """Extract the storage root into ``target`` without hooks or unknown Git files; return (files, notes)."""
    prefix = zipsafe.STORAGE_PREFIX
    members = [name[len(prefix) :] for name in verified.files if name.startswith(prefix)]
    count = zipsafe.extract_tree(verified, prefix, target, keep=restore_git.restored)
    try:
        notes = restore_git.secure_git_dir(target)
    except ValueError as exc:
        raise zipsafe.invalid(verified.path, str(exc)) from exc
    return count, restore_git.left_out(members) + notes


def _aside_label(path: Path, plan: RestorePlan, db_path: Path) -> str:
    if path == plan.storage_root:
        return "storage"
    return "database" + str(path)[len(str(db_path)) :]


def _swap(plan: RestorePlan, db_path: Path, new_db: Path, new_storage: Path, stages: list[Path]) -> None:
    """Carry out the renames under a journal, so a crash at any point is finished by the next process."""
    journal = Journal(
        db_path,
        str(plan.restore_point),
        [Step(_aside_label(src, plan, db_path), src, dst) for src, dst in plan.moves_aside],
        [Step("database", new_db, db_path), Step("storage", new_storage, plan.storage_root)],
        stages,
    )
    if hasattr(os, "sync"):
        os.sync()  # the staged files are on disk before the journal can point at them
    journal.create()
    crash_for_tests("journal")
    try:
        run_forward(journal)
    except BaseException as exc:
        _undo(journal, exc)
        raise
    journal.remove()
    crash_for_tests("done")


def _undo(journal: Journal, exc: BaseException) -> None:
    """Put back what was there after ``exc`` interrupted the swap; raise the error the user sees."""
    try:
        journal.direction = BACK
        journal.save()
        crash_for_tests("journal-back")
        run_back(journal)
    except (OSError, ArchiveError) as undo_exc:
        raise ArchiveError(
            f"Restore failed ({exc}) and could not be fully undone: {undo_exc}.",
            hint=f"The journal {journal.path} lists every rename; fix the cause and run "
            "`mcp-agent-mail doctor check`, which finishes undoing it.",
        ) from exc
    journal.remove()
    if isinstance(exc, (OSError, ArchiveError)):
        raise UnavailableError(
            f"Restore failed ({exc}); the previous database and storage are back in place, unchanged.",
            hint="Fix the cause named in the message and run the restore again.",
        ) from exc


def _reset_process_caches() -> None:
    reset_database_state()
    archive.clear_repo_cache()


def _sweep_stages(plan: RestorePlan, db_path: Path) -> list[Path]:
    """Remove staging folders that killed restores left next to the database and the storage root."""
    keep = pending_stages(db_path)
    if keep is None:
        return []
    parents = dict.fromkeys([db_path.parent, plan.storage_root.parent])
    return [p for parent in parents for p in sweep_abandoned(parent, RESTORE_PREFIX, keep=keep)]


def _same_device(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def execute_restore(
    settings: Settings,
    verified: zipsafe.VerifiedRestorePoint,
    plan: RestorePlan,
    *,
    ignore_running: bool = False,
    states_dir: Path | None = None,
) -> RestoreResult:
    """Carry out ``plan``: rebuild and check the restore point in staging, then put it in place.

    A database file is swapped under a journal; any other database has its tables replaced in one
    transaction, after a ``pre-restore`` restore point of it was saved in ``states_dir``.
    """
    guard = contextlib.nullcontext() if ignore_running else exclusive_mailbox(settings)
    with guard:
        if plan.db_path is None:
            return _restore_in_place(settings, verified, plan, states_dir or settings.data_dir / STATES_DIR_NAME)
        db_path = plan.db_path
        recovered = finish_interrupted_restore(db_path)
        swept = _sweep_stages(plan, db_path)
        _check_free_space(plan, verified)
        plan.storage_root.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            db_stage = stack.enter_context(staging_dir(db_path.parent, RESTORE_PREFIX))
            handles = [db_stage]
            if not _same_device(plan.storage_root.parent, db_path.parent):
                handles.append(stack.enter_context(staging_dir(plan.storage_root.parent, RESTORE_PREFIX)))
            new_db = db_stage.path / "db" / db_path.name
            new_db.parent.mkdir()
            rebuilt = _restore_database(verified, db_stage.path, new_db)
            new_storage = handles[-1].path / "storage"
            count, notes = _restore_storage(verified, new_storage)
            _reset_process_caches()
            _refresh_moves(plan)
            crash_for_tests("staged")
            try:
                _swap(plan, db_path, new_db, new_storage, [h.path for h in handles])
            except BaseException:
                if journal_path(db_path).exists():
                    for handle in handles:
                        handle.keep = True  # the journal still needs what is staged
                raise
        _reset_process_caches()
    _note_left_out(rebuilt, notes)
    backups = [backup for _src, backup in plan.moves_aside]
    return RestoreResult(plan, backups, count, notes, recovered, swept)


def _note_left_out(rebuilt: RebuiltDatabase, notes: list[str]) -> None:
    if rebuilt.left_out:
        notes.insert(
            0, f"Left out of the database (not created by this version's migrations): {', '.join(rebuilt.left_out)}."
        )


def _move_storage(plan: RestorePlan, new_storage: Path) -> list[tuple[Path, Path]]:
    """Set the storage root aside and move ``new_storage`` in; undo and raise UNAVAILABLE on failure."""
    done: list[tuple[Path, Path]] = []
    try:
        for src, dst in plan.moves_aside:
            os.rename(src, dst)
            done.append((src, dst))
        os.rename(new_storage, plan.storage_root)
        done.append((new_storage, plan.storage_root))
    except OSError as exc:
        _move_back(done)
        raise UnavailableError(
            f"Restore failed ({exc}); the previous database and storage are back in place, unchanged.",
            hint="Fix the cause named in the message and run the restore again.",
        ) from exc
    return done


def _move_back(done: list[tuple[Path, Path]]) -> None:
    for src, dst in reversed(done):
        with contextlib.suppress(OSError):
            os.rename(dst, src)


def _restore_in_place(
    settings: Settings, verified: zipsafe.VerifiedRestorePoint, plan: RestorePlan, states_dir: Path
) -> RestoreResult:
    """Replace the tables of a database that is not a file in one transaction, and swap the storage root."""
    parent = plan.storage_root.parent
    swept = sweep_abandoned(parent, RESTORE_PREFIX)
    _check_free_space(plan, verified)
    parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(parent, RESTORE_PREFIX) as stage:
        staged_db = stage.path / "mailbox.sqlite3"
        rebuilt = _restore_database(verified, stage.path, staged_db)
        new_storage = stage.path / "storage"
        count, notes = _restore_storage(verified, new_storage)
        previous: Path | None = None
        try:
            previous = _save_previous(settings, states_dir)
            _reset_process_caches()
            ensure_schema(settings)
            _refresh_moves(plan)
            crash_for_tests("staged")
            _replace_in_one_transaction(settings, verified, plan, staged_db, new_storage)
        except BaseException as exc:
            if previous is not None:
                previous.unlink(missing_ok=True)  # the current data stayed; its copy is not needed
            if isinstance(exc, OSError):
                raise UnavailableError(
                    f"Restore failed ({exc}); the previous database and storage are back in place, unchanged.",
                    hint="Fix the cause named in the message and run the restore again.",
                ) from exc
            raise
    _reset_process_caches()
    _note_left_out(rebuilt, notes)
    backups = [backup for _src, backup in plan.moves_aside]
    return RestoreResult(plan, backups, count, notes, None, swept, previous)


def _save_previous(settings: Settings, states_dir: Path) -> Path | None:
    """Save the current mailbox as a ``pre-restore`` restore point (None when the database holds none yet)."""
    if not has_mailbox(settings):
        return None
    return save_restore_point(settings, states_dir, label="pre-restore").path


def _replace_in_one_transaction(
    settings: Settings, verified: zipsafe.VerifiedRestorePoint, plan: RestorePlan, staged_db: Path, new_storage: Path
) -> None:
    """Load the staged rows and swap the storage root; commit only when both worked, else undo both."""
    moved: list[tuple[Path, Path]] = []
    try:
        with sync_write_connection(settings) as conn:
            try:
                load_snapshot(conn, staged_db)
            except (SnapshotError, IntegrityError, DataError) as exc:
                reason = getattr(exc, "orig", None) or exc
                raise zipsafe.invalid(
                    verified.path, f"the snapshot's rows do not fit this database ({reason})"
                ) from exc
            crash_for_tests("loaded")
            moved = _move_storage(plan, new_storage)
            crash_for_tests("moved")
    except BaseException:
        _move_back(moved)
        raise


__all__ = ["RestorePlan", "RestoreResult", "execute_restore", "plan_restore"]
