"""Group commit: one thread per process runs queued write transactions, many per COMMIT.

Each caller of :func:`submit` hands over a unit of work (a coroutine function that
only awaits the session it is given, see ``engine.run_write``). The writer thread
takes every unit waiting in the queue, opens one ``BEGIN IMMEDIATE`` transaction,
runs the units one after another, then commits once and only then answers the
callers. A unit's result is therefore never returned before the transaction
holding it is durable; if the COMMIT itself fails, every unit of the batch gets
that error and none of their changes exist.

A unit that fails gets its own error and must leave no trace, while the others
commit. Units run without savepoints first (on a database server a savepoint is a
round trip of its own): a unit that fails before changing anything needs no undo.
If one fails after a statement that may have changed rows (or a statement of its
fails), the whole transaction is rolled back and the batch runs again with a
``SAVEPOINT`` before each unit, so the failing one is rolled back to it alone.
Units may run more than once in this way, as they already may after a deadlock
(see ``engine.run_write``): they change nothing but the database.

Under many concurrent writers this turns N fsyncs and N lock hand-overs into one,
and waiting writers no longer occupy the event loop's thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)

MAX_BATCH = 64
_SAVEPOINT = "SAVEPOINT mcp_agent_mail_unit"
_ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT mcp_agent_mail_unit"

Work = Callable[[Any], Awaitable[Any]]


class _UndoBatch(Exception):
    """A unit failed after changing rows in a batch run without savepoints: run the batch again with them."""


@dataclass(eq=False)
class _Unit:
    """One queued write: its work, the key of the database it writes, and where to deliver the outcome."""

    key: str
    work: Work
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = field(default=False)


def _deliver(unit: _Unit) -> None:
    future = unit.future
    if future.cancelled():
        return
    if unit.error is not None:
        future.set_exception(unit.error)
    else:
        future.set_result(unit.result)


class GroupCommitWriter:
    """A daemon thread running queued write units in shared transactions.

    ``open_batch(key)`` must return a context manager yielding a connection inside
    ``BEGIN IMMEDIATE`` that commits on a clean exit (and holds whatever in-process
    lock serialises writers); ``session_for(conn)`` wraps that connection in the
    session object the units await.
    """

    def __init__(
        self,
        open_batch: Callable[[str], contextlib.AbstractContextManager[Connection]],
        session_for: Callable[[Connection], Any],
        run_to_end: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        self._open_batch = open_batch
        self._session_for = session_for
        self._run_to_end = run_to_end
        self._queue: queue.SimpleQueue[_Unit] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.batches = 0

    def submit(self, key: str, work: Work) -> asyncio.Future[Any]:
        """Queue one unit of work for database ``key``; return a future settled after its batch commits."""
        loop = asyncio.get_running_loop()
        unit = _Unit(key, work, loop, loop.create_future())
        self._ensure_thread()
        self._queue.put(unit)
        return unit.future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="mcp-agent-mail-db-writer", daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        pending: list[_Unit] = []
        while True:
            if not pending:
                pending.append(self._queue.get())
            while len(pending) < MAX_BATCH:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            key = pending[0].key
            batch = [unit for unit in pending if unit.key == key]
            pending = [unit for unit in pending if unit.key != key]
            try:
                self._run_batch(key, batch)
            except BaseException as exc:  # every unit must hear about it
                for unit in batch:
                    if not unit.done:
                        unit.error, unit.result = exc, None
            for unit in batch:
                unit.loop.call_soon_threadsafe(_deliver, unit)

    def _run_batch(self, key: str, batch: list[_Unit]) -> None:
        self.batches += 1
        if len(batch) > 1:
            try:
                self._run_without_savepoints(key, batch)
                return
            except _UndoBatch:
                for unit in batch:
                    unit.result, unit.error, unit.done = None, None, False
        self._run_with_savepoints(key, batch)

    def _run_without_savepoints(self, key: str, batch: list[_Unit]) -> None:
        """Run every unit in one transaction; raise _UndoBatch (after the rollback) if one failed after a change."""
        with self._open_batch(key) as conn:
            session = self._session_for(conn)
            for unit in batch:
                changes = session.changes
                try:
                    unit.result = self._run_to_end(cast(Coroutine[Any, Any, Any], unit.work(session)))
                except BaseException as exc:
                    if conn.invalidated:
                        raise  # the connection is gone, and the whole batch with it
                    if session.changes != changes or isinstance(exc, DBAPIError):
                        raise _UndoBatch from exc  # something of it may stand: only a savepoint can undo it
                    unit.error = exc  # it changed nothing, so the transaction is as it was before it
                    unit.done = True
        # Reaching here means COMMIT succeeded: the successful units' results stand.
        for unit in batch:
            unit.done = True

    def _run_with_savepoints(self, key: str, batch: list[_Unit]) -> None:
        with self._open_batch(key) as conn:
            session = self._session_for(conn)
            if len(batch) == 1:
                # Alone in its transaction, a unit needs no savepoint: its failure rolls all back.
                (unit,) = batch
                unit.result = self._run_to_end(cast(Coroutine[Any, Any, Any], unit.work(session)))
            else:
                for unit in batch:
                    # One name for every unit, never released: ROLLBACK TO undoes the newest one, and
                    # COMMIT keeps them all, so a unit that succeeds costs one statement, not two.
                    conn.exec_driver_sql(_SAVEPOINT)
                    try:
                        unit.result = self._run_to_end(cast(Coroutine[Any, Any, Any], unit.work(session)))
                    except BaseException as exc:  # its own failure, rolled back alone ...
                        if conn.invalidated:
                            raise  # ... unless the connection is gone, and the whole batch with it
                        conn.exec_driver_sql(_ROLLBACK_TO_SAVEPOINT)
                        unit.error = exc
                        unit.done = True
        # Reaching here means COMMIT succeeded: the successful units' results stand.
        for unit in batch:
            unit.done = True


__all__ = ["MAX_BATCH", "GroupCommitWriter"]
