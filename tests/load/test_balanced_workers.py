"""`serve --workers 2` on Linux: each worker accepts on a socket of its own, and the parent looks after them.

The process and socket facts come from /proc, as ``ps`` and ``ss`` would show them to an operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.backend_agnostic,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="balanced workers need Linux's SO_REUSEPORT"),
]

CONNECTIONS = 200
WAIT_S = 60.0
_LISTEN, _ESTABLISHED = "0A", "01"


def _children(parent: int) -> set[int]:
    """Return the worker processes of ``parent`` (spawned by multiprocessing; its resource tracker left out)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _sockets_by_process(port: int, state: str, pids: set[int]) -> dict[int, set[str]]:
    """Return, per process, the inodes of its TCP sockets on local ``port`` in ``state`` (``/proc/net/tcp*`` codes)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    held: dict[int, set[str]] = {}
    for pid in pids:
        held[pid] = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[len("socket:[") : -1] in inodes:
                        held[pid].add(link[len("socket:[") : -1])
    return held


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting until {what}")


def _listening_workers(server: load_http.ServerProcess) -> set[int]:
    """Return the workers that listen on the server's port."""
    listening = _sockets_by_process(server.port, _LISTEN, _children(server.proc.pid))
    return {pid for pid, sockets in listening.items() if sockets}


@pytest.fixture
def two_workers(tmp_path: Path, new_database_url: Callable[[Path], str]) -> Iterator[load_http.ServerProcess]:
    """A ``serve --workers 2`` process whose two workers both listen; stopped (or killed) afterwards."""
    env = load_http.mailbox_env(tmp_path, new_database_url(tmp_path / "mailbox.sqlite3"))
    server = load_http.ServerProcess(env, tmp_path / "server.log", workers=2)
    workers: set[int] = set()
    try:
        server.wait_alive(timeout=WAIT_S)
        _wait_for(lambda: len(_listening_workers(server)) == 2, "both workers listen")
        workers = _children(server.proc.pid)
        yield server
    finally:
        server.stop()
        for pid in workers | _children(server.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def _hold_connections(port: int, count: int) -> list[asyncio.StreamWriter]:
    """Open ``count`` keep-alive connections at once, each answered once; return them still open."""

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return writer

    return list(await asyncio.gather(*(one() for _ in range(count))))


def test_each_worker_listens_on_a_socket_of_its_own(two_workers):
    listening = _sockets_by_process(two_workers.port, _LISTEN, _children(two_workers.proc.pid))
    assert len(listening) == 2, listening
    first, second = listening.values()
    assert first and second and not first & second, listening


async def test_connections_opened_together_are_spread_over_both_workers(two_workers):
    writers = await _hold_connections(two_workers.port, CONNECTIONS)
    try:
        held = _sockets_by_process(two_workers.port, _ESTABLISHED, _children(two_workers.proc.pid))
    finally:
        for writer in writers:
            writer.close()
    counts = {pid: len(sockets) for pid, sockets in held.items()}
    assert sum(counts.values()) == CONNECTIONS, counts
    # The kernel spreads connections by a hash of each one's addresses: about 100 +- 7 each.
    assert len(counts) == 2 and min(counts.values()) >= CONNECTIONS * 0.3, counts


def test_a_worker_that_dies_is_replaced_and_the_endpoint_keeps_answering(two_workers):
    victim = min(_children(two_workers.proc.pid))
    os.kill(victim, signal.SIGKILL)
    _wait_for(
        lambda: len(_listening_workers(two_workers)) == 2 and victim not in _children(two_workers.proc.pid),
        "a new worker listens in place of the killed one",
    )
    assert two_workers.proc.poll() is None, two_workers.log_tail()
    for _ in range(10):
        assert httpx.get(f"{two_workers.base}/health/liveness", timeout=10).status_code == 200


def test_sigterm_stops_the_parent_and_every_worker(two_workers):
    workers = _children(two_workers.proc.pid)
    assert two_workers.stop() == 0, two_workers.log_tail()
    assert not [pid for pid in workers if _alive(pid)]


def test_workers_stop_by_themselves_when_the_parent_is_killed(two_workers):
    workers = _children(two_workers.proc.pid)
    two_workers.kill()
    _wait_for(lambda: not any(_alive(pid) for pid in workers), "the orphaned workers have exited", timeout=30)
