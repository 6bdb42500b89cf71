"""PostgreSQL's change feed: ``LISTEN agent_mail`` on a connection of its own, reconnecting after an outage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.engine import make_url

from mcp_agent_mail.db.change_feed import CHANNEL, Event, Interest, Signal, queries

logger = logging.getLogger("mcp_agent_mail.db.change_feed")

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "mcp-agent-mail change feed"
LISTEN_SLICE_S = 2.0
"""How soon the feed closes its connection after the last watcher left."""


def parse_payload(payload: str) -> Signal | None:
    """Read one notification of the triggers: ``<project>:<agent>`` (mail), ``agent:..``/``project:..`` (roster)."""
    kind, _, rest = payload.partition(":")
    if kind in ("agent", "project"):
        return Signal(roster=True)
    if kind.isdigit() and rest.isdigit():
        return Signal(agents=frozenset({int(rest)}))
    return None


def conninfo(url: str) -> str:
    """Return the libpq URI of a ``DATABASE_URL`` (the driver part dropped)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresFeed:
    """Listens while anybody watches; closes its connection when nobody does."""

    def __init__(self, url: str) -> None:
        self._conninfo = conninfo(url)
        self._wake = asyncio.Event()

    def interest_changed(self) -> None:
        """Wake the feed (somebody started or stopped watching)."""
        self._wake.set()

    async def follow(self, interest: Interest, emit: Callable[[Event], None]) -> None:
        """Listen until cancelled, reconnecting with back-off; report each notification through ``emit``."""
        retry = FIRST_RETRY_S
        while True:
            if not interest.active():
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._listen(interest, emit)
                retry = FIRST_RETRY_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage or a refused login: say so once per attempt, try again later
                logger.warning("mail change feed: %s; reconnecting in %.1f s", _one_line(exc), retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, MAX_RETRY_S)

    async def _listen(self, interest: Interest, emit: Callable[[Event], None]) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=APPLICATION_NAME
        )
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            # Whatever arrived while nobody listened (start-up, an outage) is found by one poll.
            cursor = await conn.execute(queries.POSTGRES, queries.postgres_params(interest.watched()))
            emit(queries.newest(await cursor.fetchall()))
            while interest.active():
                notices = conn.notifies(timeout=LISTEN_SLICE_S)
                try:
                    async for notice in notices:
                        signal = parse_payload(notice.payload)
                        if signal is not None:
                            emit(signal)
                finally:
                    await notices.aclose()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
