"""Restore a saved restore point: verify, move the current data aside, swap in the snapshot, roll back on failure.

Nothing is touched until the archive has been verified completely. The
database (with its ``-wal``/``-shm``) and the storage root are *moved* aside to
``<name>.backup-<UTC stamp>`` siblings, never deleted, so a restore can always
be undone by moving them back. Any failure while swapping puts back exactly
what was there before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.engine import require_sqlite_path, reset_database_state
from mcp_agent_mail.errors import ArchiveError, ConfigurationError, UnavailableError
from mcp_agent_mail.services import zipsafe
from mcp_agent_mail.services.server_registry import exclusive_mailbox
from mcp_agent_mail.timeutil import utcnow

_DB_SIDECARS = ("-wal", "-shm")


@dataclass
class RestorePlan:
    """What a restore will do, computed without changing anything."""

    archive: Path
    metadata: dict[str, Any]
    db_path: Path
    storage_root: Path
    backup_suffix: str
    moves_aside: list[tuple[Path, Path]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Describe the plan as bullet lines for people."""
        out = [f"back up {src} -> {dst}" for src, dst in self.moves_aside]
        out.append(f"restore database snapshot -> {self.db_path}")
        out.append(f"restore storage repository -> {self.storage_root}")
        return out


@dataclass
class RestoreResult:
    """What a completed restore changed."""

    plan: RestorePlan
    backups: list[Path]
    storage_files: int


def _backup_suffix(db_path: Path, storage_root: Path) -> str:
    stamp = f".backup-{utcnow():%Y%m%d-%H%M%S}Z"
    for n in range(10000):
        suffix = stamp if n == 0 else f"{stamp}-{n:02d}"
        names = [Path(f"{db_path}{suffix}"), Path(f"{storage_root}{suffix}")]
        names += [Path(f"{db_path}{suffix}{s}") for s in _DB_SIDECARS]
        if not any(os.path.lexists(p) for p in names):
            return suffix
    raise UnavailableError("Could not find a free name for the backups.", hint="Remove old *.backup-* files.")


def _refresh_moves(plan: RestorePlan) -> None:
    """Recompute what exists now and where it will be moved (the WAL may vanish when connections close)."""
    suffix = _backup_suffix(plan.db_path, plan.storage_root)
    plan.backup_suffix = suffix
    plan.moves_aside = []
    for extra in ("", *_DB_SIDECARS):
        current = Path(f"{plan.db_path}{extra}")
        if os.path.lexists(current):
            plan.moves_aside.append((current, Path(f"{plan.db_path}{suffix}{extra}")))
    if os.path.lexists(plan.storage_root):
        plan.moves_aside.append((plan.storage_root, Path(f"{plan.storage_root}{suffix}")))


def plan_restore(settings: Settings, verified: zipsafe.VerifiedArchive) -> RestorePlan:
    """Compute the moves of a restore of ``verified`` over the configured database and storage root."""
    db_path = require_sqlite_path(settings)
    storage_root = Path(settings.storage.root)
    if db_path.is_relative_to(storage_root):
        raise ConfigurationError(
            f"The database {db_path} lies inside the storage root {storage_root}; restore cannot swap them safely.",
            hint="Keep DATABASE_URL outside STORAGE_ROOT.",
        )
    if verified.path.is_relative_to(storage_root):
        raise ConfigurationError(
            f"The restore point {verified.path} lies inside the storage root it would replace.",
            hint="Move the restore point elsewhere (e.g. the archive list directory) and try again.",
        )
    plan = RestorePlan(verified.path, verified.metadata, db_path, storage_root, "")
    _refresh_moves(plan)
    source = verified.metadata.get("database", {}).get("source_path") if isinstance(
        verified.metadata.get("database"), dict) else None
    if source and source != str(db_path):
        plan.warnings.append(f"The restore point was saved from {source}; it will be restored to {db_path}.")
    return plan


def _check_free_space(plan: RestorePlan, verified: zipsafe.VerifiedArchive) -> None:
    parent = plan.db_path.parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if verified.total_bytes > free:
        raise UnavailableError(
            f"The restore needs {verified.total_bytes} bytes but only {free} are free near {plan.db_path}.",
            hint="Free some disk space and try again.",
        )


def _check_snapshot(path: Path, archive: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as conn:
            status = conn.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise zipsafe.invalid(archive, f"the database snapshot is not a SQLite database ({exc})") from exc
    if not status or status[0] != "ok":
        raise zipsafe.invalid(archive, f"the database snapshot fails its integrity check ({status})")
    if not {"projects", "messages", "schema_version"} <= tables:
        raise zipsafe.invalid(archive, "the database snapshot is not a mailbox database")


def _drop_git_locks(storage: Path) -> None:
    git_dir = storage / ".git"
    if git_dir.is_dir():
        for lock in git_dir.rglob("*.lock"):
            with contextlib.suppress(OSError):
                lock.unlink()


@contextlib.contextmanager
def _staging(plan: RestorePlan) -> Iterator[tuple[Path, Path]]:
    """Yield fresh staging directories next to the database and next to the storage root."""
    db_parent = plan.db_path.parent
    storage_parent = plan.storage_root.parent
    db_parent.mkdir(parents=True, exist_ok=True)
    storage_parent.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        db_stage = Path(tempfile.mkdtemp(prefix=".restore-", dir=db_parent))
        created.append(db_stage)
        if os.stat(storage_parent).st_dev == os.stat(db_parent).st_dev:
            storage_stage = db_stage
        else:
            storage_stage = Path(tempfile.mkdtemp(prefix=".restore-", dir=storage_parent))
            created.append(storage_stage)
        yield db_stage, storage_stage
    finally:
        for stage in created:
            shutil.rmtree(stage, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _rollback(moved: list[tuple[Path, Path]], placed: list[Path]) -> list[str]:
    problems: list[str] = []
    for path in reversed(placed):
        try:
            _remove(path)
        except OSError as exc:
            problems.append(f"could not remove {path}: {exc}")
    for original, backup in reversed(moved):
        try:
            os.rename(backup, original)
        except OSError as exc:
            problems.append(f"could not move {backup} back to {original}: {exc}")
    return problems


def _swap(plan: RestorePlan, new_db: Path, new_storage: Path) -> None:
    moved: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for original, backup in plan.moves_aside:
            os.rename(original, backup)
            moved.append((original, backup))
        os.link(new_db, plan.db_path)  # fails instead of replacing a database that appeared meanwhile
        placed.append(plan.db_path)
        new_db.unlink()
        os.rename(new_storage, plan.storage_root)
        placed.append(plan.storage_root)
    except BaseException as exc:
        problems = _rollback(moved, placed)
        if not isinstance(exc, OSError):
            raise
        if problems:
            raise ArchiveError(
                f"Restore failed ({exc}) and could not be fully undone: {'; '.join(problems)}.",
                hint="Move the *.backup-* files listed above back into place by hand.",
            ) from exc
        raise UnavailableError(
            f"Restore failed ({exc}); the previous database and storage are back in place, unchanged.",
            hint="Fix the cause named in the message and run the restore again.",
        ) from exc
    _fsync_dir(plan.db_path.parent)
    _fsync_dir(plan.storage_root.parent)


def _reset_process_caches() -> None:
    reset_database_state()
    from mcp_agent_mail.archive import clear_repo_cache

    clear_repo_cache()


def execute_restore(
    settings: Settings, verified: zipsafe.VerifiedArchive, plan: RestorePlan, *, ignore_running: bool = False
) -> RestoreResult:
    """Carry out ``plan``: stage and check the snapshot, move the current data aside, swap, reset caches."""
    guard = contextlib.nullcontext() if ignore_running else exclusive_mailbox(settings)
    with guard:
        _check_free_space(plan, verified)
        with _staging(plan) as (db_stage, storage_stage):
            new_db = db_stage / "db" / plan.db_path.name
            new_db.parent.mkdir()
            zipsafe.extract_file(verified, verified.snapshot_member, new_db)
            _check_snapshot(new_db, verified.path)
            new_storage = storage_stage / "storage"
            count = zipsafe.extract_tree(verified, zipsafe.STORAGE_PREFIX, new_storage)
            _drop_git_locks(new_storage)
            _reset_process_caches()
            _refresh_moves(plan)
            _swap(plan, new_db, new_storage)
        _reset_process_caches()
    return RestoreResult(plan, [backup for _src, backup in plan.moves_aside], count)


__all__ = ["RestorePlan", "RestoreResult", "execute_restore", "plan_restore"]
