"""The in-process archive writer: replays the outbox at start, flushes on wake-ups and polls, drains at exit.

The replay runs in the background: a server answers while a backlog left by a crash (or by an
archive that could not be written for a while) is still being written, and its archive catches up.

Git work runs in worker threads (``asyncio.to_thread``) so the event loop never
blocks on it. Several writers may run in one process (one per server lifespan),
in several processes and, on PostgreSQL, on several machines; the writer lock
(:func:`mcp_agent_mail.archive.repo.writer_lock`) makes them take turns, and
whoever holds it flushes every pending row, whichever process queued it. A
writer that finds the lock taken skips; if the holder dies, the system frees
its lock and another writer's next poll (every :data:`POLL_SECONDS`) flushes.
A row that fails stays queued with its error and is retried after a back-off
(see :mod:`mcp_agent_mail.archive.outbox`), so neither the polls nor the final
drain at exit wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from mcp_agent_mail.archive.flush import due_count, try_flush
from mcp_agent_mail.archive.wake import add_wake_callback, remove_wake_callback, wake_writer
from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.db.failures import is_unreachable
from mcp_agent_mail.errors import UnavailableError

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0
START_LOCK_SECONDS = 5.0
WAKE_LOCK_SECONDS = 5.0
STOP_SECONDS = 15.0

__all__ = ["wake_writer", "writer_running"]


class _Writer:
    """One background flushing task bound to the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        self.stopped = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Set the wake-up event from any thread."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)

    async def flush(self, lock_seconds: float, *, steady: bool = False) -> None:
        """Flush in a worker thread; log (never raise) failures, an unreachable database in one line."""
        try:
            await asyncio.to_thread(try_flush, self.settings, timeout=lock_seconds, steady=steady)
        except Exception as exc:
            if _unreachable(exc):
                logger.warning("archive writer: the database cannot be reached; pending rows stay queued")
            else:
                logger.exception("archive writer: flush failed; pending rows stay queued")

    async def _pending(self) -> bool:
        """Tell whether rows are due (a failed row waiting out its back-off does not wake the writer)."""
        try:
            return await asyncio.to_thread(due_count, self.settings) > 0
        except Exception as exc:
            if _unreachable(exc):
                logger.warning("archive writer: the database cannot be reached; pending rows stay queued")
            else:
                logger.exception("archive writer: cannot count pending rows")
            return False

    async def run(self) -> None:
        """Replay what is pending, then wait for wake-ups (or poll), debounce, flush; until stopped."""
        await self.flush(START_LOCK_SECONDS)
        debounce = self.settings.storage.flush_interval_ms / 1000
        while not self.stopped.is_set():
            woke = await _wait(self.event, POLL_SECONDS)
            if woke and debounce > 0:
                await _wait(self.stopped, debounce)
            if self.stopped.is_set():
                return  # stop() drains whatever is queued
            self.event.clear()
            if woke or await self._pending():
                await self.flush(WAKE_LOCK_SECONDS if woke else 0.0, steady=True)

    async def stop(self) -> None:
        """Stop the task (bounded wait) and drain what is left."""
        self.stopped.set()
        self.event.set()
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=STOP_SECONDS)
            except TimeoutError:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self.task
        await self.flush(STOP_SECONDS)


def _unreachable(exc: BaseException) -> bool:
    """Tell whether a flush failed because the database cannot be reached (said in one line, not a traceback)."""
    cause = exc.__cause__ if isinstance(exc, UnavailableError) else exc
    return cause is not None and is_unreachable(cause)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; return whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


@contextlib.asynccontextmanager
async def writer_running() -> AsyncIterator[None]:
    """Run the archive writer for the lifetime of the block (replay at start in the background, final flush at exit)."""
    writer = _Writer(get_settings())
    add_wake_callback(writer.wake)
    try:
        writer.task = asyncio.create_task(writer.run(), name="archive-writer")
        yield
    finally:
        try:
            await writer.stop()
        finally:
            remove_wake_callback(writer.wake)
