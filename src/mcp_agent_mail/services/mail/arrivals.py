"""New-mail arrivals: who waits for which agent's mail, woken by the database's change feed.

One :class:`Arrivals` per event loop (:func:`arrivals`) runs one change feed
(:mod:`mcp_agent_mail.db.change_feed`), started by the first watcher and kept while anybody
uses it: a watcher, or the server's lifespan (:meth:`Arrivals.running`). Watchers are plain
callbacks, so the same hub wakes ``wait_for_mail`` calls and pushes resource notifications to
MCP sessions. A watcher says which delivery it has already seen (``mark``), so a change the
feed reports is never lost between a caller's read and its registration, and never announced
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterator

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db.change_feed import ChangeFeed, Event, Newest, Signal, feed_for
from mcp_agent_mail.db.engine import ensure_schema

logger = logging.getLogger("mcp_agent_mail.services.mail.arrivals")


class Watcher:
    """One party waiting for ``agent_id``'s mail: ``wake`` runs (on the loop) when newer mail arrives."""

    def __init__(self, agent_id: int, mark: int, wake: Callable[[], None]) -> None:
        self.agent_id = agent_id
        self.mark = mark
        self.wake = wake


class Arrivals:
    """The watchers of one event loop and the change feed that wakes them."""

    def __init__(self) -> None:
        self._watchers: dict[int, set[Watcher]] = {}
        self._roster_listeners: dict[Callable[[], None], tuple[int, int]] = {}
        self._generation: dict[int, int] = {}
        self._roster_changes = 0
        self._watched: frozenset[int] = frozenset()
        self._users = 0
        self._feed: ChangeFeed | None = None
        self._task: asyncio.Task[None] | None = None

    # -- what the feed asks (from any thread) -------------------------------------------------
    def watched(self) -> frozenset[int]:
        """Return the agents somebody waits for."""
        return self._watched

    def active(self) -> bool:
        """Tell whether anybody waits for mail or for new agents and projects."""
        return bool(self._watched) or bool(self._roster_listeners)

    # -- watching ---------------------------------------------------------------------------
    def generation(self, agent_id: int) -> int:
        """Return how many arrivals for ``agent_id`` this hub has heard of (to detect one during a read)."""
        return self._generation.get(agent_id, 0)

    @contextlib.contextmanager
    def watching(self, agent_id: int, mark: int, wake: Callable[[], None], *, generation: int = 0) -> Iterator[Watcher]:
        """Call ``wake`` whenever mail newer than message ``mark`` arrives for ``agent_id``, for the block.

        ``generation`` is :meth:`generation` read before the caller looked at the database: an
        arrival heard of since then wakes the watcher at once.
        """
        watcher = self.add(agent_id, mark, wake)
        try:
            if self.generation(agent_id) != generation:
                wake()
            yield watcher
        finally:
            self.remove(watcher)

    def add(self, agent_id: int, mark: int, wake: Callable[[], None]) -> Watcher:
        """Register a watcher until :meth:`remove`; start the feed if it is not running."""
        watcher = Watcher(agent_id, mark, wake)
        self._watchers.setdefault(agent_id, set()).add(watcher)
        self._interest_changed()
        self._acquire()
        return watcher

    def remove(self, watcher: Watcher) -> None:
        """Forget a watcher (once; later calls do nothing)."""
        group = self._watchers.get(watcher.agent_id)
        if group is None or watcher not in group:
            return
        group.discard(watcher)
        if not group:
            del self._watchers[watcher.agent_id]
        self._interest_changed()
        self._release()

    def roster_generation(self) -> int:
        """Return how many roster changes this hub has heard of (to detect one during a read)."""
        return self._roster_changes

    def add_roster_listener(self, listener: Callable[[], None], mark: tuple[int, int], generation: int) -> None:
        """Call ``listener`` whenever a project or agent is added, until :meth:`remove_roster_listener`.

        ``mark`` is the roster the caller has seen (the highest project and agent ids), read after
        :meth:`roster_generation` gave ``generation``; a change heard of since then is announced at once.
        """
        if listener in self._roster_listeners:
            return
        self._roster_listeners[listener] = mark
        self._interest_changed()
        self._acquire()
        if generation != self._roster_changes:
            listener()

    def remove_roster_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener`` (once; later calls do nothing)."""
        if listener not in self._roster_listeners:
            return
        del self._roster_listeners[listener]
        self._interest_changed()
        self._release()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Keep the change feed, once a watcher started it, until the block ends (the server's lifespan)."""
        self._acquire(start=False)
        try:
            yield
        finally:
            task = self._release()
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    # -- the feed ---------------------------------------------------------------------------
    def _interest_changed(self) -> None:
        self._watched = frozenset(self._watchers)
        if self._feed is not None:
            self._feed.interest_changed()

    def _acquire(self, *, start: bool = True) -> None:
        self._users += 1
        if self._task is None and start:
            self._task = asyncio.get_running_loop().create_task(self._follow(), name="mail-arrivals")

    def _release(self) -> asyncio.Task[None] | None:
        self._users -= 1
        if self._users > 0 or self._task is None:
            return None
        task, self._task, self._feed = self._task, None, None
        task.cancel()
        return task

    async def _follow(self) -> None:
        try:
            settings = get_settings()
            await asyncio.to_thread(ensure_schema, settings)
            feed = self._feed = feed_for(settings)
            await feed.follow(self, self._on_event)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the mail change feed stopped; new mail is no longer pushed")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Newest):
            self._on_newest(event)
        else:
            self._on_signal(event)

    def _on_newest(self, event: Newest) -> None:
        for agent_id, newest in event.deliveries.items():
            for watcher in list(self._watchers.get(agent_id, ())):
                if newest > watcher.mark:
                    watcher.mark = newest
                    self._bump(agent_id)
                    watcher.wake()
        for listener, mark in list(self._roster_listeners.items()):
            if event.roster != mark:
                self._roster_changes += 1
                self._roster_listeners[listener] = event.roster
                listener()

    def _on_signal(self, event: Signal) -> None:
        for agent_id in event.agents:
            self._bump(agent_id)
            for watcher in list(self._watchers.get(agent_id, ())):
                watcher.wake()
        if event.roster:
            self._announce_roster()

    def _bump(self, agent_id: int) -> None:
        self._generation[agent_id] = self._generation.get(agent_id, 0) + 1

    def _announce_roster(self) -> None:
        self._roster_changes += 1
        for listener in list(self._roster_listeners):
            listener()


_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Arrivals] = weakref.WeakKeyDictionary()


def arrivals() -> Arrivals:
    """Return the hub of the running event loop (one per process in a server)."""
    loop = asyncio.get_running_loop()
    hub = _HUBS.get(loop)
    if hub is None:
        hub = _HUBS[loop] = Arrivals()
    return hub
