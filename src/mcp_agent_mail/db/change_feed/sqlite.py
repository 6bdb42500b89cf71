"""SQLite's change feed: ``PRAGMA data_version`` polled with back-off on one read-only connection in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from mcp_agent_mail.db.change_feed import Event, Interest, queries

logger = logging.getLogger("mcp_agent_mail.db.change_feed")

FAST_S = 0.05
"""Poll interval right after a change."""
IDLE_S = 0.25
"""Longest poll interval while somebody watches (the bound on how late a change is noticed)."""
_GROWTH = 1.5
_RETRY_S = 1.0


class SqliteFeed:
    """Polls the database file's change counter while anybody watches; sleeps on an event otherwise."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._wake = threading.Event()

    def interest_changed(self) -> None:
        """Wake the polling thread (somebody started or stopped watching)."""
        self._wake.set()

    async def follow(self, interest: Interest, emit: Callable[[Event], None]) -> None:
        """Run the polling thread until cancelled; report through ``emit`` on this loop."""
        if self._path is None:  # an in-memory database is private to one connection: nothing to notice
            await asyncio.Event().wait()
            return
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def post(event: Event) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed while the thread was posting
                loop.call_soon_threadsafe(emit, event)

        thread = threading.Thread(
            target=self._run, args=(self._path, interest, post, stop), name="mail-change-feed", daemon=True
        )
        thread.start()
        try:
            await asyncio.Event().wait()
        finally:
            stop.set()
            self._wake.set()
            await asyncio.shield(asyncio.to_thread(thread.join, 5))

    def _run(self, path: Path, interest: Interest, post: Callable[[Event], None], stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._poll(path, interest, post, stop)
            except sqlite3.Error as exc:
                logger.warning("mail change feed: %s; retrying in %.0f s", exc, _RETRY_S)
                stop.wait(_RETRY_S)

    def _poll(self, path: Path, interest: Interest, post: Callable[[Event], None], stop: threading.Event) -> None:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=1.0)
        try:
            conn.execute("PRAGMA query_only=1")
            version: int | None = None
            watched: frozenset[int] = frozenset()
            delay = IDLE_S
            while not stop.is_set():
                if not interest.active():
                    self._wake.clear()
                    if not interest.active():
                        self._wake.wait()
                    version = None  # start again from a fresh look when somebody watches
                    continue
                now_watched = interest.watched()
                now_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                if now_version != version or not now_watched <= watched:
                    rows = conn.execute(queries.SQLITE, queries.sqlite_params(now_watched)).fetchall()
                    post(queries.newest(rows))
                    version, watched, delay = now_version, now_watched, FAST_S
                else:
                    watched = now_watched
                    delay = min(delay * _GROWTH, IDLE_S)
                self._wake.clear()
                self._wake.wait(delay)
        finally:
            conn.close()
