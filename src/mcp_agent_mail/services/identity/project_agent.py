"""Resolve a project and one of its agents in a single statement (the hot path of agent-facing tools)."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from sqlalchemy import bindparam, or_, select

from mcp_agent_mail.db import ReadTransaction, schema
from mcp_agent_mail.services.identity.names import looks_like_placeholder, name_key
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project

Row = Mapping[Any, Any]  # a result row, or a dict shaped like one

_pr, _ag = schema.projects, schema.agents
_AGENT_PREFIX = "agent__"
_COLUMNS = (*_pr.c, *(column.label(_AGENT_PREFIX + column.name) for column in _ag.c))
_FROM = _pr.join(_ag, (_ag.c.project_id == _pr.c.id) & (_ag.c.name_key == bindparam("name_key")))
BY_PATH = or_(_pr.c.human_key == bindparam("key"), _pr.c.human_key == bindparam("normalised"))
"""Where ``projects`` matches a project key given as a path (parameters from :func:`lookup_keys`)."""
BY_SLUG = _pr.c.slug == bindparam("key")
"""Where ``projects`` matches a project key given as a slug (parameters from :func:`lookup_keys`)."""
# A project key is an absolute path (stored normalised) or a slug: one prepared statement for each.
_BY_PATH = select(*_COLUMNS).select_from(_FROM).where(BY_PATH)
_BY_SLUG = select(*_COLUMNS).select_from(_FROM).where(BY_SLUG)


def lookup_keys(project_key: str, agent_name: str) -> tuple[bool, dict[str, str], str] | None:
    """Return whether the project key is a path, its condition's parameters and the agent's name key.

    None when either is blank or the name is a placeholder: only the full lookups explain those.
    """
    raw = project_key.strip() if isinstance(project_key, str) else ""
    name = agent_name.strip() if isinstance(agent_name, str) else ""
    if not raw or not name or looks_like_placeholder(name):
        return None
    if raw.startswith("/"):
        return True, {"key": raw, "normalised": posixpath.normpath(raw)}, name_key(name)
    return False, {"key": raw.lower()}, name_key(name)


_REMEMBERED: ContextVar[tuple[str, str, Row, Row] | None] = ContextVar("remembered_identity", default=None)


@contextlib.contextmanager
def remembered(project_key: str, agent_name: str, project: Row, agent: Row) -> Iterator[None]:
    """Let reads in this context take (project, agent) for these exact keys without a lookup.

    For one tool call: its identity check has just read these rows, and the tool's own reads
    (``run_read`` carries the context into its thread) need not read them again. Writes look up.
    """
    token = _REMEMBERED.set((project_key, agent_name, project, agent))
    try:
        yield
    finally:
        _REMEMBERED.reset(token)


async def project_and_agent(
    session: ReadTransaction,
    project_key: str,
    agent_name: str,
    *,
    check_project: Callable[[Row], None] | None = None,
    field: str = "agent_name",
) -> tuple[Row, Row]:
    """Return (project, agent) rows; on any miss fall back to the full lookups and their coded errors.

    ``check_project`` runs on the project before the agent is looked up on the slow path, so a
    refusal about the project (e.g. archived) wins over a missing agent, as with separate lookups;
    callers run it themselves on the result of the fast path.
    """
    known = _REMEMBERED.get()
    if known is not None and (known[0], known[1]) == (project_key, agent_name) and getattr(session, "read_only", False):
        return known[2], known[3]
    row = None
    if (keys := lookup_keys(project_key, agent_name)) is not None:
        by_path, params, agent_key = keys
        statement = _BY_PATH if by_path else _BY_SLUG
        row = (await session.execute(statement, {**params, "name_key": agent_key})).mappings().first()
    if row is None:
        found = await resolve_project(session, project_key)
        if check_project is not None:
            check_project(found)
        return found, await get_agent(session, found, agent_name, field=field)
    project = {column.name: row[column.name] for column in _pr.c}
    agent = {column.name: row[_AGENT_PREFIX + column.name] for column in _ag.c}
    return project, agent
