"""Which servers hold a mailbox: a shared OS lock plus one small JSON record per registration.

Every running server (stdio or HTTP) holds a *shared* ``flock`` on a lock file
next to the database for its whole life and writes ``{pid, started_at,
transport}`` into a sidecar directory. Maintenance that needs the data alone
(restore) takes the lock *exclusively*: that fails while any server runs, and a
server cannot start while maintenance holds it. The OS releases the lock when a
process dies, so a crash never leaves the mailbox looking busy; sidecars of dead
processes are ignored and swept.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.engine import sqlite_path_from_url
from mcp_agent_mail.db.restore_journal import finish_interrupted_restore
from mcp_agent_mail.errors import ServerRunningError, UnavailableError
from mcp_agent_mail.fsutil import LockMode, flock_until, try_flock
from mcp_agent_mail.timeutil import iso, utcnow

_counter = itertools.count(1)
_POLL_S = 0.1


@dataclass(frozen=True)
class RegistryPaths:
    """Where the lock file and the sidecar directory of one mailbox live."""

    lock_file: Path
    sidecar_dir: Path


def registry_paths(settings: Settings) -> RegistryPaths:
    """Return the lock file and sidecar directory for the configured database."""
    db_path = sqlite_path_from_url(settings.database.url)
    if db_path is not None:
        return RegistryPaths(Path(f"{db_path}.servers.lock"), Path(f"{db_path}.servers.d"))
    return RegistryPaths(settings.data_dir / "servers.lock", settings.data_dir / "servers.d")


def _open_lock(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a+b")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def hold_server_registration(
    settings: Settings, transport: str, *, wait_seconds: float = 30.0
) -> Iterator[dict[str, Any]]:
    """Register this process as a running server of the mailbox for the lifetime of the block."""
    paths = registry_paths(settings)
    handle = _open_lock(paths.lock_file)
    sidecar: Path | None = None
    try:
        busy = UnavailableError(
            "The mailbox is being restored; the server cannot start now.",
            hint="Wait for `mcp-agent-mail archive restore` to finish, then start the server again.",
        )
        deadline = time.monotonic() + max(0.0, wait_seconds)
        flock_until(handle.fileno(), LockMode.SHARED, deadline, pause=_POLL_S, max_pause=_POLL_S, busy=busy)
        db_path = sqlite_path_from_url(settings.database.url)
        if db_path is not None:
            # Before this server touches the database or the archive: finish a restore a crash interrupted.
            finish_interrupted_restore(db_path)
        record = {"pid": os.getpid(), "started_at": iso(utcnow()), "transport": transport}
        paths.sidecar_dir.mkdir(parents=True, exist_ok=True)
        sidecar = paths.sidecar_dir / f"{os.getpid()}-{next(_counter)}.json"
        tmp = sidecar.with_suffix(".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, sidecar)
        yield record
    finally:
        if sidecar is not None:
            sidecar.unlink(missing_ok=True)
        handle.close()


def _read_sidecars(sidecar_dir: Path, *, sweep: bool) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    if not sidecar_dir.is_dir():
        return records
    for entry in sorted(sidecar_dir.glob("*.json")):
        try:
            record = json.loads(entry.read_text(encoding="utf-8"))
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _pid_alive(pid):
            records.append({"pid": pid, "started_at": record.get("started_at"), "transport": record.get("transport")})
        elif sweep:
            with contextlib.suppress(OSError):
                entry.unlink()
    # In the order they started ("42-10.json" sorts before "42-9.json" by name).
    records.sort(key=lambda record: str(record.get("started_at") or ""))
    return records


def _registered_servers(settings: Settings) -> list[dict[str, Any]]:
    paths = registry_paths(settings)
    if not paths.lock_file.exists():
        return []
    with _open_lock(paths.lock_file) as handle:
        if not try_flock(handle.fileno(), LockMode.EXCLUSIVE):
            records = _read_sidecars(paths.sidecar_dir, sweep=False)
            return records or [{"pid": None, "started_at": None, "transport": "unknown"}]
        _read_sidecars(paths.sidecar_dir, sweep=True)
        return []


def running_servers(settings: Settings) -> list[dict[str, Any]]:
    """Return the servers holding the mailbox now (empty when none does)."""
    return _registered_servers(settings)


def describe_servers(servers: list[dict[str, Any]]) -> str:
    """Name the servers for a message, e.g. ``pid 42 (http, mcp), pid 43 (stdio)``."""
    by_pid: dict[int, list[str]] = {}
    for server in servers:
        if server.get("pid") is not None:
            transports = by_pid.setdefault(int(server["pid"]), [])
            transport = str(server.get("transport") or "unknown")
            if transport not in transports:
                transports.append(transport)
    parts = [f"pid {pid} ({', '.join(transports)})" for pid, transports in by_pid.items()]
    return ", ".join(parts) or "a process that left no record"


def ensure_no_servers(settings: Settings) -> None:
    """Raise ServerRunningError when a server holds the mailbox."""
    servers = running_servers(settings)
    if servers:
        raise ServerRunningError(
            f"A server is using this mailbox: {describe_servers(servers)}.",
            hint=f"Stop {describe_servers(servers)} first, or pass --ignore-running if you are sure it is safe.",
            data={"servers": servers},
        )


@contextlib.contextmanager
def exclusive_mailbox(settings: Settings) -> Iterator[None]:
    """Hold the mailbox alone for the block; raise ServerRunningError while a server runs."""
    paths = registry_paths(settings)
    with _open_lock(paths.lock_file) as handle:
        if not try_flock(handle.fileno(), LockMode.EXCLUSIVE):
            servers = _read_sidecars(paths.sidecar_dir, sweep=False)
            raise ServerRunningError(
                f"A server is using this mailbox: {describe_servers(servers)}.",
                hint=f"Stop {describe_servers(servers)} first, or pass --ignore-running if you are sure it is safe.",
                data={"servers": servers},
            )
        _read_sidecars(paths.sidecar_dir, sweep=True)
        yield


__all__ = [
    "RegistryPaths",
    "describe_servers",
    "ensure_no_servers",
    "exclusive_mailbox",
    "hold_server_registration",
    "registry_paths",
    "running_servers",
]
