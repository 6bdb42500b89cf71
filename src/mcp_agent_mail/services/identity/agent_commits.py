"""An agent's recent archive commits, limited to what the caller may know about the mail they name.

A commit that wrote messages names them (its ``Message-Id`` trailers, and often a subject line).
The caller is whoever proved an identity: the agent holding ``registration_token`` and every agent
the MCP session is bound to (:mod:`.auth`). Whatever the identity mode, a commit is hidden when the
agent looked up received one of its messages as bcc and the caller is neither that agent nor the
message's sender, so a bcc copy never shows. In strict mode a commit naming messages is shown only
when the caller sent or received every one of them; messages no longer in the database count as
unreadable in both modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mcp_agent_mail.archive.history import agent_commits
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import UnauthorizedError
from mcp_agent_mail.services.identity.auth import BINDINGS, STRICT, hash_token, identity_mode

_SCAN_GROWTH = 4
_MAX_CANDIDATES = 400
_m, _r, _a = schema.messages, schema.message_recipients, schema.agents


@dataclass
class _Mail:
    """Who sent one message and who received it (agent ids with their project ids)."""

    sender: tuple[int, int]
    readers: set[tuple[int, int]] = field(default_factory=set)
    bcc: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Caller:
    """The agents a caller proved to be: by token, and by the session's bindings."""

    token_agent: int | None
    session_key: str | None

    def is_any(self, agents: Iterable[tuple[int, int]]) -> bool:
        """Tell whether the caller proved to be one of ``agents`` ((project id, agent id) pairs)."""
        return any(
            agent == self.token_agent or BINDINGS.is_bound(self.session_key, project, agent)
            for project, agent in agents
        )


async def token_agent(token: str | None) -> int | None:
    """Return the id of the agent holding ``token`` (None without one); a token nobody holds is UNAUTHORIZED."""
    given = token.strip() if isinstance(token, str) else ""
    if not given:
        return None

    async def read(session: ReadTransaction) -> int | None:
        found = await session.execute(select(_a.c.id).where(_a.c.registration_token_hash == hash_token(given)))
        return found.scalars().first()

    agent = await run_read(read)
    if agent is None:
        raise UnauthorizedError(
            "registration_token does not belong to any agent.",
            hint="Pass your own registration_token (returned when your agent was created), or leave it out.",
        )
    return agent


async def _mail(message_ids: set[int]) -> dict[int, _Mail]:
    if not message_ids:
        return {}

    async def read(session: ReadTransaction) -> dict[int, _Mail]:
        ids = sorted(message_ids)
        senders = await session.execute(
            select(_m.c.id, _m.c.sender_id, _a.c.project_id).join(_a, _a.c.id == _m.c.sender_id).where(_m.c.id.in_(ids))
        )
        found = {mid: _Mail((project, sender)) for mid, sender, project in senders.all()}
        copies = await session.execute(
            select(_r.c.message_id, _r.c.agent_id, _r.c.kind, _a.c.project_id)
            .join(_a, _a.c.id == _r.c.agent_id)
            .where(_r.c.message_id.in_(ids))
        )
        for mid, agent, kind, project in copies.all():
            mail = found.get(mid)
            if mail is not None:
                mail.readers.add((project, agent))
                if kind == "bcc":
                    mail.bcc.add(agent)
        return found

    return await run_read(read)


def _shown(mail: _Mail | None, target: tuple[int, int], caller: _Caller, strict: bool) -> bool:
    if mail is None:
        return False
    if target[1] in mail.bcc and not caller.is_any((mail.sender, target)):
        return False
    return not strict or caller.is_any((mail.sender, *mail.readers))


async def visible_agent_commits(
    project_key: str,
    target: tuple[int, int, str],
    limit: int,
    *,
    token: str | None = None,
    session_key: str | None = None,
) -> list[dict[str, Any]]:
    """Return up to ``limit`` recent commits touching the agent ``target`` (project id, agent id, name) that the
    caller may see (newest first)."""
    project_id, agent_id, name = target
    caller = _Caller(await token_agent(token), session_key)
    strict = identity_mode() == STRICT
    settings = get_settings()
    wanted = limit
    while True:
        candidates = await asyncio.to_thread(agent_commits, settings, project_key, name, wanted)
        mail = await _mail({mid for commit in candidates for mid in commit["message_ids"]})
        shown = [
            {key: value for key, value in commit.items() if key != "message_ids"}
            for commit in candidates
            if all(_shown(mail.get(mid), (project_id, agent_id), caller, strict) for mid in commit["message_ids"])
        ]
        if len(shown) >= limit or len(candidates) < wanted or wanted >= _MAX_CANDIDATES:
            return shown[:limit]
        wanted = min(_MAX_CANDIDATES, wanted * _SCAN_GROWTH)
