"""Private working folders of saves and restores, and the sweep of those their process left behind.

A save works in ``<states dir>/.save-XXXX`` and a restore in ``.restore-XXXX``
folders next to the database and the storage root. The creating process holds
an exclusive ``flock`` on the folder itself for as long as it exists and then
writes an owner file into it, so a folder whose lock is free and which has an
owner file belongs to a process that is gone (the kernel drops the lock when a
process dies, even by SIGKILL) and can be removed by the next save, restore or
``doctor repair``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from mcp_agent_mail.fsutil import LockMode, try_flock

SAVE_PREFIX = ".save-"
RESTORE_PREFIX = ".restore-"
OWNER_FILE = ".owner"
# A folder made by a version that wrote no owner file is judged abandoned once it is this old.
_UNOWNED_AFTER_S = 3600.0


@dataclass
class StagingDir:
    """A working folder held by this process; ``keep`` leaves it in place when the block ends."""

    path: Path
    keep: bool = False


@contextlib.contextmanager
def staging_dir(parent: Path, prefix: str) -> Iterator[StagingDir]:
    """Create ``parent/<prefix>XXXX`` held by this process for the block, then remove it (unless kept)."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    handle = StagingDir(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        (path / OWNER_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        yield handle
    finally:
        if not handle.keep:
            shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def _abandoned(entry: Path, fd: int) -> bool:
    if not try_flock(fd, LockMode.EXCLUSIVE):
        return False
    if (entry / OWNER_FILE).exists():
        return True
    # No owner file: either its creator is between creating and locking it right now, or an
    # older version made it; only the second kind is ever old.
    try:
        return time.time() - entry.stat().st_mtime > _UNOWNED_AFTER_S
    except FileNotFoundError:
        return False


def _scan(parent: Path, prefix: str, keep: Collection[Path], *, remove: bool) -> list[Path]:
    found: list[Path] = []
    if not parent.is_dir():
        return found
    kept = {Path(p) for p in keep}
    for entry in sorted(parent.glob(f"{prefix}*")):
        if entry in kept or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            continue
        try:
            if not _abandoned(entry, fd):
                continue
            if remove:
                shutil.rmtree(entry, ignore_errors=True)
            found.append(entry)
        finally:
            os.close(fd)
    return found


def abandoned_dirs(parent: Path, prefix: str, *, keep: Collection[Path] = ()) -> list[Path]:
    """Return the ``parent/<prefix>*`` folders whose creating process is gone (changes nothing)."""
    return _scan(parent, prefix, keep, remove=False)


def sweep_abandoned(parent: Path, prefix: str, *, keep: Collection[Path] = ()) -> list[Path]:
    """Remove the ``parent/<prefix>*`` folders whose creating process is gone; return them."""
    return _scan(parent, prefix, keep, remove=True)


__all__ = [
    "OWNER_FILE",
    "RESTORE_PREFIX",
    "SAVE_PREFIX",
    "StagingDir",
    "abandoned_dirs",
    "staging_dir",
    "sweep_abandoned",
]
