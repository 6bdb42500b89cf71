"""Which servers use a mailbox: a shared OS lock per database, held by every running server.

Any number of servers (one per stdio client plus HTTP servers) hold the lock in
shared mode at once. Maintenance that must run alone (restore, reset) takes it
exclusively: that fails while a server runs, and a server cannot start while
maintenance holds it. The OS drops the lock when a process dies, so a crash
never leaves a stale marker behind.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.errors import ServerRunningError, UnavailableError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: presence is not tracked
    fcntl = None  # type: ignore[assignment]


def presence_lock_path(settings: Settings | None = None) -> Path:
    """Return the lock file standing for the configured database (under the data directory)."""
    settings = settings or get_settings()
    digest = hashlib.sha256(settings.database.url.encode("utf-8")).hexdigest()[:16]
    return settings.data_dir / "run" / f"mailbox-{digest}.lock"


def _open(settings: Settings | None) -> IO[bytes]:
    path = presence_lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a+b")


@contextlib.contextmanager
def server_presence(settings: Settings | None = None) -> Iterator[None]:
    """Mark this process as a running server of the mailbox for the lifetime of the block."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    handle = _open(settings)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UnavailableError(
                "The mailbox is being restored or reset; the server cannot start now.",
                hint="Wait for the maintenance command to finish, then start the server again.",
            ) from exc
        yield
    finally:
        handle.close()


def servers_running(settings: Settings | None = None) -> bool:
    """Tell whether any server process currently uses the configured mailbox."""
    if fcntl is None:  # pragma: no cover
        return False
    handle = _open(settings)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False
    finally:
        handle.close()


@contextlib.contextmanager
def exclusive_maintenance(settings: Settings | None = None) -> Iterator[None]:
    """Hold the mailbox alone for the block; raise ServerRunningError if a server is running."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    handle = _open(settings)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ServerRunningError(
                f"A server is using this mailbox (lock {presence_lock_path(settings)}).",
            ) from exc
        yield
    finally:
        handle.close()


__all__ = ["exclusive_maintenance", "presence_lock_path", "server_presence", "servers_running"]
