"""``serve --workers N`` on Linux: N processes, each accepting on a listening socket of its own.

With one listening socket shared by every worker, a connection goes to whichever worker wakes
first, and a burst of keep-alive connections (agents that connect together) lands mostly on one
worker for as long as the connections live: the other workers idle. Here each worker binds the
port itself with ``SO_REUSEPORT`` and the kernel spreads new connections evenly over them.

The parent keeps the port bound (without listening) so nothing else takes it while a worker
restarts, starts a worker again when one dies, and on SIGINT/SIGTERM stops them all.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

BACKLOG = 2048
"""Pending connections each worker's socket queues (uvicorn's default)."""

STARTUP_FAILURE = 3
"""Exit status of a worker whose app never started (uvicorn's): starting it again would fail the same way."""

STOP_GRACE_S = 5.0
"""How long past the graceful-shutdown timeout the parent waits for a worker before killing it."""

_POLL_S = 0.5


def balanced_workers_supported() -> bool:
    """Return True where ``SO_REUSEPORT`` spreads connections over the sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


@dataclass(frozen=True)
class WorkerOptions:
    """What a worker needs to serve: where to listen and uvicorn's options (picklable for ``spawn``)."""

    host: str
    port: int
    uvicorn: dict[str, Any]


def reuse_port_sockets(host: str, port: int, *, listen: bool = True) -> list[socket.socket]:
    """Bind every address ``host`` resolves to on ``port`` with ``SO_REUSEPORT``; listen unless told not to.

    Port 0 picks one free port for all the addresses. Raises ``OSError`` when a bind fails.
    """
    addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    chosen = port
    try:
        for family, kind, proto, _name, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], chosen, *address[2:]))
            chosen = chosen or sock.getsockname()[1]
            if listen:
                sock.listen(BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve_worker(options: WorkerOptions) -> None:
    """Run one worker: listen on its own sockets and serve the app until told to stop (a ``spawn`` target)."""
    import uvicorn

    from mcp_agent_mail.logging_setup import configure_logging

    configure_logging(options.uvicorn.get("log_level", "info").upper())
    _stop_when_parent_dies()
    try:
        sockets = reuse_port_sockets(options.host, options.port)
    except OSError as exc:
        logger.error("worker cannot listen on %s:%s: %s", options.host, options.port, exc)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(uvicorn.Config(**options.uvicorn))
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _stop_when_parent_dies() -> None:
    """Send this worker SIGTERM (a graceful stop) when its parent is gone, e.g. killed with SIGKILL."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="mcp-agent-mail-parent-watch", daemon=True).start()


class WorkerPool:
    """The parent of ``count`` workers: starts them, replaces any that dies, stops them all on a signal."""

    def __init__(self, count: int, options: WorkerOptions, graceful_s: float) -> None:
        self.count = count
        self.options = options
        self.graceful_s = graceful_s
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._workers: list[Any] = []

    def stop(self) -> None:
        """Ask the pool to stop its workers and return from :meth:`run`."""
        self._stop.set()

    def _start_one(self) -> Any:
        process = self._context.Process(target=serve_worker, args=(self.options,), name="mcp-agent-mail-worker")
        process.start()
        return process

    def run(self) -> int:
        """Serve until stopped; return 0, or 1 when a worker could not start (the others are stopped too)."""
        failed = False
        try:
            self._workers = [self._start_one() for _ in range(self.count)]
            while not self._stop.wait(_POLL_S):
                if not self._replace_dead():
                    failed = True
                    break
        finally:
            self._stop_all()
        return 1 if failed else 0

    def _replace_dead(self) -> bool:
        """Start a new worker in place of each dead one; return False if one failed at start-up."""
        for index, process in enumerate(self._workers):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker %s could not start; stopping the server", process.pid)
                return False
            if self._stop.is_set():
                return True
            logger.warning("worker %s exited (status %s); starting another", process.pid, process.exitcode)
            self._workers[index] = self._start_one()
        return True

    def _stop_all(self) -> None:
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.graceful_s + STOP_GRACE_S
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("worker %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()

    @property
    def pids(self) -> list[int]:
        """The process ids of the current workers."""
        return [process.pid for process in self._workers if process.pid is not None]


@contextlib.contextmanager
def _stop_on_signals(pool: WorkerPool) -> Iterator[None]:
    """Make SIGINT and SIGTERM stop ``pool`` for the block, then put the previous handlers back."""
    previous = {sig: signal.signal(sig, lambda _signum, _frame: pool.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_workers(count: int, options: WorkerOptions, graceful_s: float, held: list[socket.socket]) -> int:
    """Serve with ``count`` balanced workers until SIGINT/SIGTERM; return the exit status (0, or 1 if one failed).

    ``held`` are the port's sockets, bound without listening (``reuse_port_sockets(..., listen=False)``):
    kept for the pool's life so no other program takes the port while a worker restarts, and
    so port 0 becomes one real port every worker shares. They are closed on return.
    """
    try:
        port = held[0].getsockname()[1]
        pool = WorkerPool(count, WorkerOptions(options.host, port, options.uvicorn), graceful_s)
        with _stop_on_signals(pool):
            return pool.run()
    finally:
        for sock in held:
            sock.close()


__all__ = [
    "WorkerOptions",
    "WorkerPool",
    "balanced_workers_supported",
    "reuse_port_sockets",
    "run_workers",
    "serve_worker",
]
