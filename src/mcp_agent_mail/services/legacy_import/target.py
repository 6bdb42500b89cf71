"""What the receiving mailbox already holds, read inside the import's transaction, and the ids it hands out.

Imported rows keep their original ids. With ``--merge``, an id already taken in
this mailbox is renumbered: it gets the next id above both the mailbox's and the
source's highest, so it can collide with nothing. A source project whose path is
already a project here is merged into it, and an agent whose name is already
registered in that project is the same agent (its existing row is kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, func, select

from mcp_agent_mail.db import schema

_CHUNK = 500

#: Our tables whose rows the import numbers, by the report's kind.
NUMBERED: dict[str, Table] = {
    "projects": schema.projects,
    "agents": schema.agents,
    "messages": schema.messages,
    "file_reservations": schema.file_reservations,
    "contacts": schema.agent_links,
    "window_identities": schema.window_identities,
    "summaries": schema.message_summaries,
}
_HOLDS_MAIL = (schema.projects, schema.agents, schema.messages)


@dataclass
class Target:
    """Projects, agents and pairs already in the mailbox (all empty for a fresh one)."""

    projects: dict[str, tuple[int, str]] = field(default_factory=dict)
    slugs: set[str] = field(default_factory=set)
    agents: dict[tuple[int, str], int] = field(default_factory=dict)
    links: set[tuple[int, int]] = field(default_factory=set)
    windows: set[tuple[int, str]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Tell whether the mailbox holds no project, agent or message."""
        return not any(self.counts.values())


def read_target(conn: Connection) -> Target:
    """Read what the import must not collide with."""
    p, a, k, w = schema.projects, schema.agents, schema.agent_links, schema.window_identities
    target = Target()
    target.counts = {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in _HOLDS_MAIL}
    for pid, slug, human_key in conn.execute(select(p.c.id, p.c.slug, p.c.human_key)):
        target.projects[human_key] = (pid, slug)
        target.slugs.add(slug)
    for aid, pid, key in conn.execute(select(a.c.id, a.c.project_id, a.c.name_key)):
        target.agents[(pid, key)] = aid
    target.links = {(x, y) for x, y in conn.execute(select(k.c.a_agent_id, k.c.b_agent_id))}
    target.windows = {(x, y) for x, y in conn.execute(select(w.c.project_id, w.c.window_uuid))}
    return target


class Ids:
    """Hands out the id of each imported row of one table: its own, or a fresh one when it is taken."""

    def __init__(self, taken: set[int], next_free: int) -> None:
        self._taken = taken
        self._next = next_free
        self._seen: set[int] = set()
        self.renumbered = 0

    def assign(self, wanted: int) -> int | None:
        """Return the id to store for source id ``wanted``; None when the source repeats that id."""
        if wanted in self._seen:
            return None
        self._seen.add(wanted)
        if wanted not in self._taken:
            self._taken.add(wanted)
            return wanted
        while self._next in self._taken:
            self._next += 1
        fresh = self._next
        self._taken.add(fresh)
        self.renumbered += 1
        return fresh


def id_allocator(conn: Connection, table: Table, wanted: Iterable[int]) -> Ids:
    """Return the allocator of ``table`` for the source ids ``wanted`` (ids taken here are looked up in chunks)."""
    ids = sorted(set(wanted))
    column = table.c.id
    taken: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        taken.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    top = int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one())
    return Ids(taken, max(top, ids[-1] if ids else 0) + 1)


__all__ = ["NUMBERED", "Ids", "Target", "id_allocator", "read_target"]
