"""Noticing new mail whichever process stored it: one small interface, one implementation per dialect.

A feed reports what it learns to a callback on the event loop, as :class:`Newest` (the newest
delivery of each watched agent, to be compared with what the watchers already know) or
:class:`Signal` (these agents got mail; a project or agent was added). It holds no transaction
while idle and does nothing at all while nobody watches.

- SQLite (:mod:`.sqlite`): one read-only connection in a thread polls ``PRAGMA data_version``
  (it changes only when another connection commits), 50 ms after activity growing to 250 ms
  when idle, and only after a change runs one query for the newest deliveries.
- PostgreSQL (:mod:`.postgres`): ``LISTEN agent_mail`` on a connection of its own; the
  triggers of :mod:`.triggers` (migration 8) notify on every delivery and every new agent or
  project. After an outage it reconnects with back-off and polls once for what it missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.backend_url import parse_database_url, sqlite_path_from_url

CHANNEL = "agent_mail"
"""The PostgreSQL notification channel the triggers publish on."""


@dataclass(frozen=True)
class Newest:
    """The newest delivered message id of each watched agent that has mail, and the highest project and agent ids."""

    deliveries: dict[int, int]
    roster: tuple[int, int]


@dataclass(frozen=True)
class Signal:
    """New mail for ``agents``; ``roster`` when a project or agent was added."""

    agents: frozenset[int] = field(default_factory=frozenset)
    roster: bool = False


Event = Newest | Signal


class Interest(Protocol):
    """What a feed asks of its owner (from any thread): who is watched, and whether anybody watches at all."""

    def watched(self) -> frozenset[int]:
        """Return the ids of the agents somebody waits for now."""

    def active(self) -> bool:
        """Tell whether anybody watches anything (agents or the roster)."""


class ChangeFeed(Protocol):
    """A source of :data:`Event` for one database."""

    async def follow(self, interest: Interest, emit: Callable[[Event], None]) -> None:
        """Report events through ``emit`` (called on the calling loop) until cancelled."""

    def interest_changed(self) -> None:
        """Wake the feed: somebody started or stopped watching (called on the event loop)."""


def feed_for(settings: Settings) -> ChangeFeed:
    """Return the change feed of the configured database."""
    url = settings.database.url
    if parse_database_url(url).dialect == "postgresql":
        from mcp_agent_mail.db.change_feed.postgres import PostgresFeed

        return PostgresFeed(url)
    from mcp_agent_mail.db.change_feed.sqlite import SqliteFeed

    return SqliteFeed(sqlite_path_from_url(url))


__all__ = ["CHANNEL", "ChangeFeed", "Event", "Interest", "Newest", "Signal", "feed_for"]
