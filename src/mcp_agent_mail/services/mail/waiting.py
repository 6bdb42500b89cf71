"""wait_for_mail: answer as soon as new mail arrives for an agent, or empty-handed at the timeout.

The wait holds no database connection or transaction: it reads, registers with the process's
:class:`~mcp_agent_mail.services.mail.arrivals.Arrivals` hub and awaits an event the change
feed sets, then reads again.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, RowMapping, Select, bindparam, func, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.project_agent import project_and_agent
from mcp_agent_mail.services.mail.arrivals import arrivals
from mcp_agent_mail.services.mail.entries import message_entry
from mcp_agent_mail.services.mail.inbox import received_mail, since

MAX_TIMEOUT_S = 300
MAX_MESSAGES = 50
"""At most this many new messages are returned, newest first (fetch_inbox lists the rest)."""


def check_timeout(value: object) -> float:
    """Return ``value`` as seconds from 0 to 300, or raise INVALID_ARGUMENT."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not 0 <= number <= MAX_TIMEOUT_S:
        raise InvalidArgumentError(
            f"timeout_seconds must be a number from 0 to {MAX_TIMEOUT_S}; got {value!r}.",
            hint="Pass e.g. timeout_seconds=120, and call again after a timeout.",
        )
    return float(number)


@dataclass(frozen=True)
class _Look:
    project_id: int
    agent_id: int
    newest: int
    rows: list[RowMapping]


async def wait_for_mail(
    project_key: str, agent_name: str, timeout_seconds: object = 60, since_ts: str | None = None
) -> dict[str, Any]:
    """Return ``{"messages": [...], "timed_out": False}`` once mail newer than ``since_ts`` (default: the call's
    start) is in the agent's inbox, or ``{"messages": [], "timed_out": True}`` after ``timeout_seconds``."""
    timeout = check_timeout(timeout_seconds)
    after_ts = since(since_ts)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    first = await _look(project_key, agent_name, None, None)
    after_id = None if after_ts is not None else first.newest
    hub = arrivals()
    generation = hub.generation(first.agent_id)
    look = await _look(project_key, agent_name, after_ts, after_id)
    if look.rows:
        return _answer(look, timed_out=False)
    arrived = asyncio.Event()
    with hub.watching(look.agent_id, look.newest, arrived.set, generation=generation):
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return _answer(look, timed_out=True)
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except TimeoutError:
                return _answer(look, timed_out=True)
            arrived.clear()
            look = await _look(project_key, agent_name, after_ts, after_id)
            if look.rows:
                return _answer(look, timed_out=False)


def _answer(look: _Look, *, timed_out: bool) -> dict[str, Any]:
    messages = [message_entry(row, look.project_id, body=False, receipt=True) for row in look.rows]
    return {"messages": messages, "timed_out": timed_out and not messages}


async def _look(project_key: str, agent_name: str, after_ts: datetime | None, after_id: int | None) -> _Look:
    """Read the agent, its newest delivery and (given a bound) the mail after that bound."""

    async def read(session: ReadTransaction) -> _Look:
        project, agent = await project_and_agent(session, project_key, agent_name)
        newest = int(await session.scalar(_NEWEST, {"agent_id": agent["id"]}) or 0)
        rows: list[RowMapping] = []
        if after_ts is not None or (after_id is not None and newest > after_id):
            params = {"agent_id": agent["id"], "after_ts": after_ts, "after_id": after_id or 0}
            rows = list((await session.execute(_new_mail(after_ts is not None), params)).mappings().all())
        return _Look(int(project["id"]), int(agent["id"]), newest, rows)

    return await run_read(read)


_r = schema.message_recipients
_NEWEST = select(func.max(_r.c.message_id)).where(_r.c.agent_id == bindparam("agent_id"))


@lru_cache(maxsize=2)
def _new_mail(by_time: bool) -> Select[Any]:
    """Return the statement listing an agent's mail after a time (``after_ts``) or a message id (``after_id``)."""
    m, r = schema.messages, schema.message_recipients
    query = received_mail()
    if by_time:
        query = query.where(m.c.created_ts > bindparam("after_ts", type_=m.c.created_ts.type))
    else:
        query = query.where(r.c.message_id > bindparam("after_id", type_=Integer))
    return query.order_by(r.c.message_id.desc()).limit(MAX_MESSAGES)


async def delivery_mark(project_key: str, agent_name: str) -> tuple[int, int]:
    """Return the agent's id and the id of the newest message delivered to it (0 when none)."""
    look = await _look(project_key, agent_name, None, None)
    return look.agent_id, look.newest


_ROSTER = select(
    select(func.coalesce(func.max(schema.projects.c.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(schema.agents.c.id), 0)).scalar_subquery(),
)


async def roster_mark() -> tuple[int, int]:
    """Return the highest project and agent ids (what a roster listener has seen)."""

    async def read(session: ReadTransaction) -> tuple[int, int]:
        row = (await session.execute(_ROSTER)).one()
        return int(row[0]), int(row[1])

    return await run_read(read)
