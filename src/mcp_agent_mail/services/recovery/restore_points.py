"""Save and list restore points: consistent zips of the database and the Git archive.

``save_restore_point`` never alters what it copies: the archive writer's queue is
flushed through the writer itself, the database is written as a SQLite snapshot
of the mailbox's tables (:mod:`mcp_agent_mail.db.snapshot`: a consistent view,
even while servers write, from either backend), and the storage root is read
file by file with Git's references before its objects. It works in a
``.save-*`` folder that the next save removes if this one is killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sqlite3
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_agent_mail import __version__, archive
from mcp_agent_mail.archive.repo import TMP_DIR, archive_quiet, is_git_lock
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.db.engine import sqlite_path_from_url
from mcp_agent_mail.db.restore_journal import crash_for_tests, finish_interrupted_restore
from mcp_agent_mail.db.snapshot import backup_sqlite_file, has_mailbox, save_snapshot
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.fsutil import fsync_dir
from mcp_agent_mail.services.database import printable_url
from mcp_agent_mail.services.recovery.staging import SAVE_PREFIX, staging_dir, sweep_abandoned
from mcp_agent_mail.services.recovery.zipsafe import (
    CHUNK,
    FORMAT_VERSION,
    METADATA_NAME,
    SNAPSHOT_NAME,
    STORAGE_PREFIX,
    read_metadata,
)
from mcp_agent_mail.timeutil import iso, utcnow

ProgressCallback = Callable[[int, int], None]

STATES_DIR_NAME = "archived_mailbox_states"
"""The data directory's folder of restore points."""

_LABEL_RUN = re.compile(r"[^a-z0-9]+")
_MAX_LABEL = 60
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_COUNT_TABLES = {
    "projects": "projects",
    "agents": "agents",
    "messages": "messages",
    "recipients": "message_recipients",
    "file_reservations": "file_reservations",
}


@dataclass
class SavedRestorePoint:
    """What ``save_restore_point`` wrote."""

    path: Path
    metadata: dict[str, Any]
    size_bytes: int
    file_count: int


def label_slug(label: str | None) -> str:
    """Return the file-name form of a label ('' for none); reject labels with no usable characters."""
    if label is None or not label.strip():
        return ""
    slug = _LABEL_RUN.sub("-", label.strip().lower()).strip("-")[:_MAX_LABEL].strip("-")
    if not slug:
        raise InvalidArgumentError(
            f"Label {label!r} has no letters or digits.", hint="Use a label such as pre-upgrade or nightly-2026-01-01."
        )
    return slug


def flush_archive_writer(settings: Settings) -> int:
    """Apply the archive writer's pending queue to Git; return how many queued changes were applied."""
    return archive.flush_pending(settings)


def snapshot_database(source: Path, target: Path) -> None:
    """Copy the SQLite file ``source`` into the new file ``target`` with SQLite's online backup API."""
    backup_sqlite_file(source, target)


def database_label(settings: Settings) -> str:
    """Name the configured database for people: its file, or its URL without the password."""
    path = sqlite_path_from_url(settings.database.url)
    return str(path) if path is not None else printable_url(settings.database.url)


def _open_snapshot(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def _scalar(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _resolve_projects(conn: sqlite3.Connection, filters: list[str]) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, slug, human_key FROM projects ORDER BY id").fetchall()
    if not filters:
        return [{"id": r[0], "slug": r[1], "human_key": r[2]} for r in rows]
    chosen: dict[int, dict[str, Any]] = {}
    for raw in filters:
        wanted = raw.strip()
        match = next(
            (r for r in rows if wanted in (r[1], r[2]) or (len(wanted) > 1 and wanted.rstrip("/") == r[2])), None
        )
        if match is None:
            raise NotFoundError(
                f"Project {raw!r} is not in the mailbox.",
                hint="Pass a project slug or its absolute path as shown by ensure_project.",
            )
        chosen[match[0]] = {"id": match[0], "slug": match[1], "human_key": match[2]}
    return list(chosen.values())


def _counts(conn: sqlite3.Connection, project_ids: list[int] | None) -> dict[str, int]:
    if project_ids is None:
        return {key: int(_scalar(conn, f"SELECT COUNT(*) FROM {table}") or 0) for key, table in _COUNT_TABLES.items()}
    marks = ",".join("?" * len(project_ids))
    ids = tuple(project_ids)
    return {
        "projects": len(project_ids),
        "agents": int(_scalar(conn, f"SELECT COUNT(*) FROM agents WHERE project_id IN ({marks})", ids) or 0),
        "messages": int(_scalar(conn, f"SELECT COUNT(*) FROM messages WHERE project_id IN ({marks})", ids) or 0),
        "recipients": int(
            _scalar(
                conn,
                "SELECT COUNT(*) FROM message_recipients r JOIN messages m ON m.id = r.message_id "
                f"WHERE m.project_id IN ({marks})",
                ids,
            )
            or 0
        ),
        "file_reservations": int(
            _scalar(conn, f"SELECT COUNT(*) FROM file_reservations WHERE project_id IN ({marks})", ids) or 0
        ),
    }


def git_head(storage_root: Path) -> str | None:
    """Return the commit the storage repository's HEAD points at (None without a repository)."""
    if not (storage_root / ".git").exists():
        return None
    try:
        from dulwich.repo import Repo

        with Repo(str(storage_root)) as repo:
            return repo.head().decode("ascii")
    except Exception:
        return None


def _storage_order(rel: str) -> tuple[int, str]:
    # References before objects: every object a copied reference names is copied too,
    # even if the writer commits while the walk runs.
    if rel == ".git/HEAD" or rel.startswith((".git/refs/", ".git/packed-refs")):
        return (0, rel)
    if rel.startswith(".git/objects/"):
        return (2, rel)
    return (1, rel)


def _is_transient(rel: str) -> bool:
    """Git lock files and the writer's staging folder only matter to a process that is running now."""
    return is_git_lock(rel) or rel.startswith(f".git/{TMP_DIR}/")


def storage_entries(root: Path) -> tuple[list[str], list[str]]:
    """Return (directories, files) under the storage root as relative POSIX paths, skipping Git locks."""
    directories: list[str] = []
    files: list[str] = []
    if not root.is_dir():
        return directories, files
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            full = base / name
            if not full.is_symlink():
                directories.append(full.relative_to(root).as_posix())
        for name in filenames:
            full = base / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink() or _is_transient(rel):
                continue
            files.append(rel)
    directories.sort()
    files.sort(key=_storage_order)
    return directories, files


def _zip_info(name: str, st: os.stat_result | None, *, is_dir: bool) -> zipfile.ZipInfo:
    if st is not None:
        stamp = datetime.fromtimestamp(st.st_mtime, UTC)
        date_time = max(_ZIP_EPOCH, (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second))
    else:
        date_time = _ZIP_EPOCH
    info = zipfile.ZipInfo(name + "/" if is_dir else name, date_time=date_time)
    info.create_system = 3
    if is_dir:
        info.external_attr = ((stat.S_IFDIR | 0o755) << 16) | 0x10
    else:
        perm = stat.S_IMODE(st.st_mode) if st is not None else 0o644
        info.external_attr = (stat.S_IFREG | perm) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _add_file(zf: zipfile.ZipFile, name: str, source: Path) -> str | None:
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with handle:
        st = os.fstat(handle.fileno())
        info = _zip_info(name, st, is_dir=False)
        digest = hashlib.sha256()
        with zf.open(info, "w", force_zip64=st.st_size > (1 << 30)) as out:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    return digest.hexdigest()


def _add_dir(zf: zipfile.ZipFile, name: str, source: Path | None) -> None:
    st = None
    if source is not None:
        with contextlib.suppress(OSError):
            st = source.stat()
    zf.writestr(_zip_info(name, st, is_dir=True), b"")


def _free_name(directory: Path, stem: str) -> Iterator[Path]:
    names = [f"{stem}.zip"] + [f"{stem}-{n:02d}.zip" for n in range(1, 10000)]
    for name in names:
        candidate = directory / name
        if not candidate.exists():
            yield candidate


def _publish(partial: Path, directory: Path, stem: str) -> Path:
    """Give ``partial`` its final name without ever replacing an existing restore point."""
    for candidate in _free_name(directory, stem):
        try:
            os.link(partial, candidate)
        except FileExistsError:
            continue
        except OSError:
            if candidate.exists():
                continue
            os.replace(partial, candidate)
            return candidate
        partial.unlink()
        return candidate
    raise InvalidArgumentError(f"Too many restore points named {stem}*.zip in {directory}.")


@dataclass
class _SaveJob:
    settings: Settings
    source: str
    storage_root: Path
    states_dir: Path
    work: Path
    now: datetime
    stem: str
    label: str
    filters: list[str]
    progress: ProgressCallback | None


def save_restore_point(
    settings: Settings,
    states_dir: Path,
    *,
    label: str | None = None,
    projects: list[str] | None = None,
    progress: ProgressCallback | None = None,
) -> SavedRestorePoint:
    """Write a restore point (database snapshot, storage root, metadata with hashes) into ``states_dir``."""
    slug = label_slug(label)
    db_path = sqlite_path_from_url(settings.database.url)
    if db_path is not None:
        finish_interrupted_restore(db_path)
    if not has_mailbox(settings):
        where = f"database at {db_path}" if db_path is not None else f"mailbox in {database_label(settings)}"
        raise NotFoundError(
            f"There is no {where}; nothing to save.",
            hint="Check DATABASE_URL, or start the server once so the mailbox exists.",
        )
    storage_root = Path(settings.storage.root)
    flush_archive_writer(settings)

    now = utcnow()
    stem = f"mailbox-state-{now:%Y%m%d-%H%M%S}Z" + (f"-{slug}" if slug else "")
    states_dir.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(states_dir, SAVE_PREFIX)
    with staging_dir(states_dir, SAVE_PREFIX) as work:
        job = _SaveJob(
            settings,
            database_label(settings),
            storage_root,
            states_dir,
            work.path,
            now,
            stem,
            (label or "").strip(),
            [p.strip() for p in (projects or []) if p.strip()],
            progress,
        )
        with archive_quiet(storage_root):
            return _write_restore_point(job)


def _metadata(
    job: _SaveJob, snapshot: Path, chosen: list[dict[str, Any]], counts: dict[str, int], schema_version: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created_at": iso(job.now),
        "label": job.label,
        "projects": [{"slug": p["slug"], "human_key": p["human_key"]} for p in chosen],
        "counts": counts,
        "tool": {"name": "mcp-agent-mail", "version": __version__, "python": platform.python_version()},
        "database": {
            "source_path": job.source,
            "backend": parse_database_url(job.settings.database.url).dialect,
            "snapshot": SNAPSHOT_NAME,
            "size_bytes": snapshot.stat().st_size,
            "schema_version": schema_version,
        },
        "storage": {
            "source_path": str(job.storage_root),
            "archive_dir": STORAGE_PREFIX.rstrip("/"),
            "git_head": git_head(job.storage_root),
        },
    }
    if job.filters:
        metadata["projects_filter"] = job.filters
        metadata["scope_note"] = (
            "The restore point holds the whole mailbox; projects and counts describe the filtered projects."
        )
    return metadata


def _write_restore_point(job: _SaveJob) -> SavedRestorePoint:
    snapshot = job.work / "mailbox.sqlite3"
    save_snapshot(job.settings, snapshot)
    with contextlib.closing(_open_snapshot(snapshot)) as conn:
        chosen = _resolve_projects(conn, job.filters)
        counts = _counts(conn, [p["id"] for p in chosen] if job.filters else None)
        schema_version = _scalar(conn, "SELECT MAX(version) FROM schema_version")
    metadata = _metadata(job, snapshot, chosen, counts, schema_version)

    root = job.storage_root
    directories, files = storage_entries(root)
    total = len(files) + 1
    hashes: dict[str, str] = {}
    dir_members = ["snapshot", STORAGE_PREFIX.rstrip("/")]
    partial = job.work / f"{job.stem}.zip.partial"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        _add_dir(zf, "snapshot", None)
        digest = _add_file(zf, SNAPSHOT_NAME, snapshot)
        assert digest is not None
        hashes[SNAPSHOT_NAME] = digest
        if job.progress:
            job.progress(1, total)
        _add_dir(zf, STORAGE_PREFIX.rstrip("/"), root if root.is_dir() else None)
        for rel in directories:
            _add_dir(zf, STORAGE_PREFIX + rel, root / rel)
            dir_members.append(STORAGE_PREFIX + rel)
        for done, rel in enumerate(files, start=2):
            digest = _add_file(zf, STORAGE_PREFIX + rel, root / rel)
            if digest is not None:
                hashes[STORAGE_PREFIX + rel] = digest
            if job.progress:
                job.progress(done, total)
        metadata["storage"]["file_count"] = len(hashes) - 1
        metadata["directories"] = dir_members
        metadata["files"] = hashes
        zf.writestr(METADATA_NAME, json.dumps(metadata, indent=2, sort_keys=True), zipfile.ZIP_DEFLATED)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    crash_for_tests("save:written")
    final = _publish(partial, job.states_dir, job.stem)
    fsync_dir(job.states_dir)
    return SavedRestorePoint(final, metadata, final.stat().st_size, len(hashes))


def _entry(path: Path) -> dict[str, Any]:
    st = path.stat()
    entry: dict[str, Any] = {
        "file": path.name,
        "path": str(path),
        "size_bytes": st.st_size,
        "created_at": iso(datetime.fromtimestamp(st.st_mtime, UTC)),
    }
    try:
        with zipfile.ZipFile(path) as zf:
            metadata = read_metadata(zf)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        entry["error"] = str(exc) or type(exc).__name__
        return entry
    if isinstance(metadata.get("created_at"), str):
        entry["created_at"] = metadata["created_at"]
    if metadata.get("label"):
        entry["label"] = metadata["label"]
    if isinstance(metadata.get("counts"), dict):
        entry["counts"] = metadata["counts"]
    projects = metadata.get("projects")
    if isinstance(projects, list):
        entry["projects"] = [p.get("slug") for p in projects if isinstance(p, dict)]
    return entry


def _sort_key(entry: dict[str, Any]) -> datetime:
    try:
        stamp = datetime.fromisoformat(str(entry["created_at"]).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def list_restore_points(states_dir: Path) -> list[dict[str, Any]]:
    """Return the restore points in ``states_dir``, newest first; unreadable ones carry an ``error``."""
    if not states_dir.is_dir():
        return []
    entries = [_entry(p) for p in states_dir.glob("*.zip") if p.is_file()]
    entries.sort(key=lambda e: (_sort_key(e), e["file"]), reverse=True)
    return entries


def resolve_restore_point(states_dir: Path, reference: str) -> Path:
    """Find a restore point given as a path or as a file name inside ``states_dir``."""
    given = Path(reference).expanduser()
    if given.is_file():
        return given.resolve()
    inside = states_dir / given.name
    if given.name and inside.is_file():
        return inside.resolve()
    raise NotFoundError(
        f"Restore point {reference!r} not found (looked at {given} and {inside}).",
        hint="Run `mcp-agent-mail archive list` to see the saved restore points.",
    )


__all__ = [
    "STATES_DIR_NAME",
    "SavedRestorePoint",
    "database_label",
    "flush_archive_writer",
    "git_head",
    "label_slug",
    "list_restore_points",
    "resolve_restore_point",
    "save_restore_point",
    "snapshot_database",
    "storage_entries",
]
