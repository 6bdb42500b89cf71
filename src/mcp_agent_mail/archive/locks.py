"""Read-only inspection of the archive's locks: the writer lock and Git lock files a dead writer may leave."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_agent_mail.archive.repo import LOCK_NAME, stale_lock_files
from mcp_agent_mail.fsutil import LockMode, try_flock, unlock


def writer_lock_held(root: Path) -> bool | None:
    """Return whether some writer holds the archive writer lock now (None when the lock file does not exist)."""
    path = root / ".git" / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if not try_flock(fd, LockMode.SHARED):
            return True
        unlock(fd)
        return False
    finally:
        os.close(fd)


def lock_report(root: Path, database_holder: str | None = None) -> dict[str, Any]:
    """Describe the writer lock and every Git lock file under the archive, without touching either.

    ``database_holder`` says who holds the database part of the writer lock ("" nobody, None: no such part,
    see :func:`mcp_agent_mail.db.engine.database_lock_holder`); a writer on another machine holds only that part.
    """
    file_held = writer_lock_held(root)
    held = bool(file_held) or bool(database_holder)
    now = time.time()
    files: list[dict[str, Any]] = []
    for path in stale_lock_files(root):
        with contextlib.suppress(FileNotFoundError):
            info = path.stat()
            files.append(
                {
                    "path": str(path.relative_to(root)),
                    "category": "git",
                    "size": info.st_size,
                    "modified_ts": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
                    "age_seconds": max(0, int(now - info.st_mtime)),
                    # Only the writer creates Git lock files; one left while no writer runs is stale.
                    "stale_suspected": not held,
                }
            )
    stale = sum(1 for f in files if f["stale_suspected"])
    writer: dict[str, Any] = {"path": f".git/{LOCK_NAME}", "exists": file_held is not None, "held": held}
    if database_holder is not None:
        writer["database_holder"] = database_holder or None
    return {
        "archive_root": str(root),
        "writer_lock": writer,
        "locks": files,
        "summary": {"total": len(files), "active": len(files) - stale, "stale": stale},
    }
