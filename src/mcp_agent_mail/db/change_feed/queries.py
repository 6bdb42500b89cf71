"""The one query a feed runs after a change: the newest delivery of each watched agent, and the roster's ids."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mcp_agent_mail.db.change_feed import Newest

_PROJECTS = -1
_AGENTS = -2
# One index probe per agent (MAX over the (agent_id, message_id) index), and two rowid lookups.
SQLITE = (
    "SELECT value, (SELECT MAX(message_id) FROM message_recipients WHERE agent_id = value) FROM json_each(?) "
    f"UNION ALL SELECT {_PROJECTS}, (SELECT MAX(id) FROM projects) "
    f"UNION ALL SELECT {_AGENTS}, (SELECT MAX(id) FROM agents)"
)
POSTGRES = (
    "SELECT w.id, (SELECT MAX(message_id) FROM message_recipients WHERE agent_id = w.id) "
    "FROM unnest(%s::integer[]) AS w(id) "
    f"UNION ALL SELECT {_PROJECTS}, (SELECT MAX(id) FROM projects) "
    f"UNION ALL SELECT {_AGENTS}, (SELECT MAX(id) FROM agents)"
)


def sqlite_params(agents: Iterable[int]) -> tuple[str]:
    """Return the parameters of :data:`SQLITE` for ``agents``."""
    return (json.dumps(sorted(agents)),)


def postgres_params(agents: Iterable[int]) -> tuple[list[int]]:
    """Return the parameters of :data:`POSTGRES` for ``agents``."""
    return (sorted(agents),)


def newest(rows: Iterable[tuple[Any, Any]]) -> Newest:
    """Turn the query's rows into :class:`Newest`."""
    deliveries: dict[int, int] = {}
    projects = agents = 0
    for key, value in rows:
        number = int(value or 0)
        if key == _PROJECTS:
            projects = number
        elif key == _AGENTS:
            agents = number
        elif value is not None:
            deliveries[int(key)] = number
    return Newest(deliveries, (projects, agents))
