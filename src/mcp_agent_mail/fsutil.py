"""File-system helpers for every layer: durable renames, free backup names, polled ``flock`` locks, usable folders.

This module sits below persistence and services: it imports only the standard
library, :mod:`mcp_agent_mail.errors` and :mod:`mcp_agent_mail.timeutil`.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.timeutil import ensure_utc, utcnow

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

HAVE_FLOCK = fcntl is not None
BACKUP_MARK = ".backup-"
# Collisions within one second get "-01" .. "-99", so the names of one folder still sort by time.
_MAX_SAME_SECOND = 100


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the renames and deletions inside ``directory`` durable (best effort: errors are ignored)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def backup_suffix(
    bases: Iterable[str | os.PathLike[str]], *, sidecars: Sequence[str] = (), now: datetime | None = None
) -> str:
    """Return a ``.backup-<UTC stamp>`` suffix that names no existing entry next to any of ``bases``.

    The suffix is free when neither ``<base><suffix>`` nor ``<base><suffix><sidecar>`` exists for
    every base; a second backup within the same second gets ``-01``, ``-02``, ... so names sort by time.
    Raises UnavailableError when every name of this second is taken.
    """
    names = [os.fspath(base) for base in bases]
    when = utcnow() if now is None else ensure_utc(now)
    stamp = f"{BACKUP_MARK}{when:%Y%m%d-%H%M%S}Z"
    for n in range(_MAX_SAME_SECOND):
        suffix = stamp if n == 0 else f"{stamp}-{n:02d}"
        if not any(os.path.lexists(f"{name}{suffix}{extra}") for name in names for extra in ("", *sidecars)):
            return suffix
    raise UnavailableError(
        f"Could not find a free backup name ({stamp}) next to {', '.join(names)}.",
        hint="Remove or rename old *.backup-* entries, or wait a second and try again.",
    )


class LockMode(enum.Enum):
    """How a ``flock`` is taken: shared with other shared holders, or exclusive."""

    SHARED = "shared"
    EXCLUSIVE = "exclusive"


def _flag(mode: LockMode) -> int:
    if fcntl is None:  # pragma: no cover - not on Windows
        raise OSError("flock is not available on this platform")
    return fcntl.LOCK_SH if mode is LockMode.SHARED else fcntl.LOCK_EX


def try_flock(fd: int, mode: LockMode) -> bool:
    """Take the lock on ``fd`` if nobody holds it against ``mode`` now; return whether it was taken (never waits)."""
    flag = _flag(mode) | fcntl.LOCK_NB
    try:
        fcntl.flock(fd, flag)
    except BlockingIOError:
        return False
    return True


def unlock(fd: int) -> None:
    """Release this process's ``flock`` on ``fd``."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def flock_until(
    fd: int,
    mode: LockMode,
    deadline: float,
    *,
    pause: float = 0.01,
    max_pause: float = 0.1,
    give_up: Callable[[], bool] | None = None,
    busy: Exception | None = None,
) -> bool:
    """Poll for the lock on ``fd`` until the ``time.monotonic()`` value ``deadline``; return whether it was taken.

    Waits ``pause`` seconds between tries, doubling up to ``max_pause`` and never past the deadline;
    tries at least once. Returns False early when ``give_up()`` says so. At the deadline, raises
    ``busy`` when given (else returns False). Errors other than a busy lock propagate.
    """
    while True:
        if try_flock(fd, mode):
            return True
        if give_up is not None and give_up():
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if busy is not None:
                raise busy
            return False
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, max_pause)


def directory_problem(path: Path) -> str | None:
    """Say why ``path`` cannot be, or become, a folder this user writes in ("is a file, ..."); None when it can.

    Creates nothing: a missing folder is fine when its nearest existing ancestor is a writable folder.
    """
    try:
        existing = path
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        is_dir = existing.is_dir()
        writable = os.access(existing, os.W_OK | os.X_OK)
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    if not is_dir:
        return (
            "is a file, not a directory"
            if existing == path
            else f"lies under {existing}, which is a file, not a directory"
        )
    if not writable:
        return "cannot be written" if existing == path else f"cannot be created: {existing} is not writable"
    return None


__all__ = [
    "BACKUP_MARK",
    "HAVE_FLOCK",
    "LockMode",
    "backup_suffix",
    "directory_problem",
    "flock_until",
    "fsync_dir",
    "try_flock",
    "unlock",
]
