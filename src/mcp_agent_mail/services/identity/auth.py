"""Who may act as an agent: registration tokens, session bindings and the identity mode.

Every agent has a registration token, returned once by ``register_agent`` /
``create_agent_identity``; only its SHA-256 digest is stored. A client proves it
is an agent by passing that token, or by calling from an MCP session that
created, registered or already proved that agent (a *session binding*).

``AGENT_IDENTITY_MODE`` chooses the enforcement:

- ``trusted`` (default): names are taken as given; a proof is optional, but a
  WRONG token is always refused.
- ``strict``: acting as an agent needs its token or a bound session, otherwise
  ``UNAUTHORIZED``. Project-wide operations (archive, unarchive, hard delete,
  purge) need the token of any agent of the project or a session bound to one.
  Any other value counts as ``strict``.

Bindings live in memory (per server process), are bounded and expire after
``MCP_AGENT_MAIL_SESSION_BINDING_TTL_SECONDS`` of inactivity. Connections
without a session (the stateless 2026-07-28 MCP protocol) cannot be bound, so
there only the token proves an identity.

An agent without a stored token (e.g. rebuilt from the archive) can be claimed
once by ``register_agent`` with its name, which mints and returns a new token;
until then it cannot prove its identity in strict mode.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping, bindparam, select

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import AgentMailError, UnauthorizedError
from mcp_agent_mail.services.identity.project_agent import Row, project_and_agent
from mcp_agent_mail.services.identity.resolve import resolve_project

logger = logging.getLogger(__name__)

TRUSTED = "trusted"
STRICT = "strict"
_warned_modes: set[str] = set()


def identity_mode() -> str:
    """Return ``trusted`` or ``strict`` (an unknown setting counts as strict)."""
    mode = get_settings().agent_identity_mode
    if mode in (TRUSTED, STRICT):
        return mode
    if mode not in _warned_modes:
        _warned_modes.add(mode)
        logger.warning("AGENT_IDENTITY_MODE=%r is not trusted or strict; enforcing strict", mode)
    return STRICT


def hash_token(token: str) -> str:
    """Return the stored digest of a registration token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Return True when ``token`` hashes to ``stored_hash`` (constant-time comparison)."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_token(token).encode(), stored_hash.encode())


def _given(token: str | None) -> str | None:
    cleaned = token.strip() if isinstance(token, str) else ""
    return cleaned or None


class SessionBindings:
    """Per MCP session, the (project, agent) pairs it has proved; bounded LRU with an idle expiry."""

    def __init__(self, max_sessions: int = 4096, max_agents_per_session: int = 256) -> None:
        self._lock = threading.Lock()
        self._max_sessions = max_sessions
        self._max_agents = max_agents_per_session
        self._sessions: OrderedDict[str, tuple[float, OrderedDict[tuple[int, int], None]]] = OrderedDict()

    def _entry(self, key: str) -> OrderedDict[tuple[int, int], None] | None:
        ttl = get_settings().session_binding_ttl_seconds
        now = time.monotonic()
        while self._sessions:
            oldest_key, (seen, _) = next(iter(self._sessions.items()))
            if now - seen <= ttl:
                break
            del self._sessions[oldest_key]
        found = self._sessions.get(key)
        if found is None:
            return None
        self._sessions[key] = (now, found[1])
        self._sessions.move_to_end(key)
        return found[1]

    def bind(self, key: str | None, project_id: int, agent_id: int) -> None:
        """Remember that session ``key`` may act as ``agent_id`` of ``project_id``."""
        if not key:
            return
        with self._lock:
            pairs = self._entry(key)
            if pairs is None:
                pairs = OrderedDict()
                self._sessions[key] = (time.monotonic(), pairs)
                while len(self._sessions) > self._max_sessions:
                    self._sessions.popitem(last=False)
            pairs[(project_id, agent_id)] = None
            pairs.move_to_end((project_id, agent_id))
            while len(pairs) > self._max_agents:
                pairs.popitem(last=False)

    def is_bound(self, key: str | None, project_id: int, agent_id: int) -> bool:
        """Return True when session ``key`` has proved ``agent_id`` of ``project_id``."""
        if not key:
            return False
        with self._lock:
            pairs = self._entry(key)
            return pairs is not None and (project_id, agent_id) in pairs

    def agents_in(self, key: str | None, project_id: int) -> list[int]:
        """Return the agent ids of ``project_id`` that session ``key`` has proved."""
        if not key:
            return []
        with self._lock:
            pairs = self._entry(key)
            return [agent for (project, agent) in pairs or () if project == project_id]

    def forget(self, *, agent_id: int | None = None, project_id: int | None = None) -> None:
        """Drop every binding to a deleted agent or to the agents of a deleted project."""
        with self._lock:
            for _, pairs in self._sessions.values():
                for pair in [p for p in pairs if p[1] == agent_id or p[0] == project_id]:
                    del pairs[pair]

    def clear(self) -> None:
        """Forget every binding."""
        with self._lock:
            self._sessions.clear()


BINDINGS = SessionBindings()


@dataclass(frozen=True)
class Proof:
    """The outcome of an identity check: whether the caller proved it is the agent it named."""

    verified: bool
    agent_name: str | None = None
    project_id: int | None = None
    agent_id: int | None = None
    rows: tuple[Row, Row] | None = field(default=None, compare=False, repr=False)
    """The (project, agent) rows the check read, when it looked the agent up by name."""


_STATELESS = " Over stateless HTTP there is no session to remember you: pass the token on every call."


def _session_clause(session_key: str | None, what: str) -> str:
    """Say how a session proves identity, or (without one, as over stateless HTTP) that every call needs the token."""
    return f", or call from the MCP session that registered {what}." if session_key is not None else "." + _STATELESS


def _how_to_prove(name: str, token_param: str, has_token: bool, session_key: str | None) -> str:
    if not has_token:
        return (
            f"{name} has no registration token yet (e.g. rebuilt from the Git archive): call register_agent with "
            f"name={name!r} to claim one, then pass it as {token_param}."
        )
    return (
        f"Pass {token_param}=<the registration_token returned once when {name} was created by "
        "register_agent or create_agent_identity>" + _session_clause(session_key, "it")
    )


def check_agent(
    agent: Mapping[Any, Any], token: str | None, session_key: str | None, *, action: str, token_param: str
) -> bool:
    """Verify a caller acting as ``agent``; return whether it proved the identity, raise UNAUTHORIZED if refused."""
    given = _given(token)
    if given is not None:
        if token_matches(given, agent["registration_token_hash"]):
            BINDINGS.bind(session_key, agent["project_id"], agent["id"])
            return True
        raise UnauthorizedError(
            f"Invalid {token_param} for agent {agent['name']!r}.",
            hint=_how_to_prove(agent["name"], token_param, agent["registration_token_hash"] is not None, session_key),
        )
    if BINDINGS.is_bound(session_key, agent["project_id"], agent["id"]):
        return True
    if identity_mode() == TRUSTED:
        return False
    raise UnauthorizedError(
        f"{action} as agent {agent['name']!r} needs proof of identity (AGENT_IDENTITY_MODE=strict).",
        hint=_how_to_prove(agent["name"], token_param, agent["registration_token_hash"] is not None, session_key),
    )


_a = schema.agents
_PROJECT_AGENTS = select(_a.c.id, _a.c.name, _a.c.project_id, _a.c.registration_token_hash).where(
    _a.c.project_id == bindparam("project_id")
)


async def _project_agents(session: ReadTransaction, project_id: int) -> list[RowMapping]:
    rows = await session.execute(_PROJECT_AGENTS, {"project_id": project_id})
    return list(rows.mappings())


def _agent_by_token(agents: list[RowMapping], token: str) -> RowMapping | None:
    found = None
    for agent in agents:  # compare against every agent so the time does not depend on the match
        if token_matches(token, agent["registration_token_hash"]):
            found = agent
    return found


async def authorize_agent(
    project_key: str | None,
    agent_name: str | None,
    token: str | None,
    session_key: str | None,
    *,
    action: str,
    token_param: str,
) -> Proof:
    """Check that the caller may act as ``agent_name`` of ``project_key``.

    When the project or agent cannot be found the check is skipped (the tool
    itself reports NOT_FOUND). Without an agent name, a token (or, in strict
    mode, a session bound to exactly one agent of the project) names the agent;
    the returned :class:`Proof` then carries that name.
    """
    if not project_key:
        if identity_mode() == STRICT or _given(token):
            raise UnauthorizedError(f"{action} cannot be verified without project_key.")
        return Proof(False)

    async def lookup(session: ReadTransaction) -> tuple[Row | None, Row | None, list[RowMapping]]:
        try:
            if agent_name:
                project, agent = await project_and_agent(session, project_key, agent_name)
                return project, agent, []
            project = await resolve_project(session, project_key)
        except AgentMailError:
            return None, None, []
        return project, None, await _project_agents(session, project["id"])

    project, agent, agents = await run_read(lookup, snapshot=False)
    if project is None:
        return Proof(False)
    if agent is not None:
        verified = check_agent(agent, token, session_key, action=action, token_param=token_param)
        return Proof(verified, agent["name"], project["id"], agent["id"], rows=(project, agent))
    return _viewer_without_name(project, agents, token, session_key, action, token_param)


def _prove_by_token(
    project: Row, agents: list[RowMapping], given: str, session_key: str | None, token_param: str, whose: str
) -> Proof:
    """Return the proof for the agent holding the token (binding the session to it), or refuse."""
    agent = _agent_by_token(agents, given)
    if agent is None:
        raise UnauthorizedError(
            f"{token_param} does not belong to any agent of project {project['slug']!r}.",
            hint=f"Pass the registration_token of {whose} as {token_param}.",
        )
    BINDINGS.bind(session_key, project["id"], agent["id"])
    return Proof(True, agent["name"], project["id"], agent["id"])


def _viewer_without_name(
    project: Row, agents: list[RowMapping], token: str | None, session_key: str | None, action: str, token_param: str
) -> Proof:
    given = _given(token)
    if given is not None:
        return _prove_by_token(project, agents, given, session_key, token_param, "one of your agents in this project")
    if identity_mode() == TRUSTED:
        return Proof(False)
    bound = set(BINDINGS.agents_in(session_key, project["id"]))
    mine = [a for a in agents if a["id"] in bound]
    if len(mine) == 1:
        return Proof(True, mine[0]["name"], project["id"], mine[0]["id"])
    reason = "is bound to several agents" if mine else "has no agent"
    raise UnauthorizedError(
        f"{action} needs to know which agent you are, and this session {reason} in project {project['slug']!r}.",
        hint=f"Pass agent_name and {token_param} (the registration_token returned when the agent was created).",
    )


async def authorize_project(
    project_key: str | None, token: str | None, session_key: str | None, *, action: str, token_param: str
) -> Proof:
    """Check that the caller speaks for ``project_key``: a token of any of its agents, or a bound session."""
    if not project_key:
        return Proof(False)

    async def lookup(session: ReadTransaction) -> tuple[RowMapping | None, list[RowMapping]]:
        try:
            project = await resolve_project(session, project_key)
        except AgentMailError:
            return None, []
        agents = await _project_agents(session, project["id"]) if given is not None else []
        return project, agents

    given = _given(token)
    project, agents = await run_read(lookup, snapshot=False)
    if project is None:
        return Proof(False)
    if given is not None:
        return _prove_by_token(project, agents, given, session_key, token_param, "an agent of this project")
    if BINDINGS.agents_in(session_key, project["id"]):
        return Proof(True, None, project["id"])
    if identity_mode() == TRUSTED:
        return Proof(False, None, project["id"])
    raise UnauthorizedError(
        f"{action} on project {project['slug']!r} needs proof that you are one of its agents "
        "(AGENT_IDENTITY_MODE=strict).",
        hint=f"Pass {token_param}=<the registration_token of any agent of this project>"
        + _session_clause(session_key, "one"),
    )


def bind_from_result(session_key: str | None, result: Any) -> None:
    """Bind the session to an agent a tool just created or registered (a result carrying its token)."""
    if not session_key or not isinstance(result, dict):
        return
    for candidate in (result, result.get("agent")):
        if (
            isinstance(candidate, dict)
            and candidate.get("registration_token")
            and isinstance(candidate.get("id"), int)
            and isinstance(candidate.get("project_id"), int)
        ):
            BINDINGS.bind(session_key, candidate["project_id"], candidate["id"])
