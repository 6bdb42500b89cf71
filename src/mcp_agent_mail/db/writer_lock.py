"""A lock file that queues writers of one SQLite database across processes.

SQLite lets only one connection write at a time; a connection that finds the
write lock taken sleeps in its busy handler (1, 2, 5, 10, ... up to 100 ms per
try) however soon the lock frees up. With several server processes on one
mailbox those sleeps, not the work, set the latency of writes. Writers of this
project therefore first take an exclusive ``flock`` on ``<database>.writers``
(polled every few hundred microseconds up to the busy timeout), so a waiting
writer starts as soon as the previous one commits. Writers that do not take it
(other programs, ``sqlite3`` in a shell) are still kept out by SQLite itself.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mcp_agent_mail.fsutil import HAVE_FLOCK, LockMode, flock_until, unlock

_FIRST_POLL_S = 0.0001
_MAX_POLL_S = 0.002

_files: dict[tuple[int, str], int] = {}
_guard = threading.Lock()


def _descriptor(path: Path) -> int:
    key = (os.getpid(), str(path))
    with _guard:
        fd = _files.get(key)
        if fd is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            _files[key] = fd
        return fd


def lock_path(database: Path) -> Path:
    """Return the lock file that queues writers of ``database``."""
    return database.with_name(database.name + ".writers")


@contextlib.contextmanager
def cross_process_writer(database: Path | None, timeout_s: float) -> Iterator[bool]:
    """Hold the writers' lock of ``database`` while the block runs; yield whether it was taken.

    Gives up waiting after ``timeout_s`` and runs the block anyway (yielding False): SQLite's own
    busy timeout then decides, exactly as without this lock. Callers in one process must already
    be serialised (the lock belongs to the process, not the thread).
    """
    if database is None or not HAVE_FLOCK:
        yield False
        return
    try:
        fd = _descriptor(lock_path(database))
    except OSError:
        yield False
        return
    deadline = time.monotonic() + max(timeout_s, 0.0)
    try:
        taken = flock_until(fd, LockMode.EXCLUSIVE, deadline, pause=_FIRST_POLL_S, max_pause=_MAX_POLL_S)
    except OSError:
        taken = False
    try:
        yield taken
    finally:
        if taken:
            unlock(fd)


__all__ = ["cross_process_writer", "lock_path"]
