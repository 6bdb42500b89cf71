"""This process's recent tool calls, filtered by the project (path or slug) and the agent they named."""

from __future__ import annotations

import posixpath
from typing import Any

from mcp_agent_mail.db import run_read
from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services import metrics
from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.identity.resolve import resolve_project


async def _project_spellings(project: str) -> tuple[set[str], str | None]:
    """Return every spelling of a project (as given, normalised, its path, its slug) and its slug if registered."""
    raw = project.strip()
    keys = {raw, posixpath.normpath(raw)} if raw.startswith("/") else {raw}
    try:
        row = await run_read(lambda session: resolve_project(session, raw))
    except AgentMailError:
        return keys, None
    return keys | {row["human_key"], row["slug"]}, row["slug"]


def _names_project(recorded: str | None, wanted: set[str], slug: str | None) -> bool:
    if recorded is None:
        return False
    if recorded in wanted or (recorded.startswith("/") and posixpath.normpath(recorded) in wanted):
        return True
    return slug is not None and recorded.lower() == slug


async def recent_calls(
    window_seconds: float, *, project: str | None = None, agent: str | None = None
) -> list[dict[str, Any]]:
    """Return the tool calls of the last ``window_seconds``, oldest first, naming ``project`` and ``agent`` if given.

    A project matches by any spelling of it (path or slug); an agent by name, case and punctuation aside.
    """
    records = metrics.recent_calls(window_seconds)
    if project and project.strip():
        keys, slug = await _project_spellings(project)
        records = [r for r in records if _names_project(r.project_key, keys, slug)]
    if agent and agent.strip():
        wanted = name_key(agent)
        records = [r for r in records if r.agent is not None and name_key(r.agent) == wanted]
    return [metrics.record_dict(r) for r in records]
