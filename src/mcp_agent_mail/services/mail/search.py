"""Full-text search over a project's messages, tolerant of any query text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from mcp_agent_mail.db import ReadTransaction, fulltext, run_read
from mcp_agent_mail.db.shapes import agent_label
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.project_agent import Row, project_and_agent
from mcp_agent_mail.services.identity.resolve import check_limit, resolve_project
from mcp_agent_mail.timeutil import iso

_SNIPPET_CHARS = 160
_SNIPPET_WORDS = 16
HIT_OPEN, HIT_CLOSE = "\u27e6", "\u27e7"
"""Markers around matched words in a snippet (``⟦word⟧``): they cannot be mistaken for Markdown in the body."""
SNIPPET_MARKS = f"{HIT_OPEN}hit{HIT_CLOSE}"
RANK_WINDOW = 1000
"""Very common words rank only this many of the newest matching messages."""
MAX_QUERY_CHARS = 1000


def _excerpt(snippet: str | None) -> str:
    text_ = " ".join((snippet or "").split())
    if len(text_) <= _SNIPPET_CHARS:
        return text_
    cut = text_[: _SNIPPET_CHARS - 2].rstrip()
    if cut.count(HIT_OPEN) > cut.count(HIT_CLOSE):
        cut += HIT_CLOSE
    return cut + "…"


def _hit(row: RowMapping, project_id: int) -> dict[str, Any]:
    sender = agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], project_id)
    hit: dict[str, Any] = {
        "id": row["id"],
        "subject": row["subject"],
        "importance": row["importance"],
        "ack_required": bool(row["ack_required"]),
        "created_ts": iso(row["created_ts"]),
        "from": sender,
    }
    if row["thread_id"] is not None:
        hit["thread_id"] = row["thread_id"]
    snippet = _excerpt(row["snippet"] if row["snippet"] is not None else row["body_md"])
    if snippet:
        hit["snippet"] = snippet
        if HIT_OPEN in snippet:
            hit["snippet_marks"] = SNIPPET_MARKS  # says how matched words are marked in the snippet
    return hit


def _check_query(query: object) -> str:
    """Return the query text (non-text counts as empty); refuse one longer than MAX_QUERY_CHARS."""
    text_ = query if isinstance(query, str) else ""
    if len(text_) > MAX_QUERY_CHARS:
        raise InvalidArgumentError(
            f"query is {len(text_)} characters; the limit is {MAX_QUERY_CHARS}.",
            hint="Search for a few distinctive words or an id such as POL-358.",
        )
    return text_


async def search_messages(
    project_key: str, query: str, limit: int = 20, agent_name: str | None = None
) -> list[dict[str, Any]]:
    """Return the project's messages matching ``query``, best match first (only the agent's mail if named)."""
    check_limit(limit)
    query = _check_query(query)

    async def read(session: ReadTransaction) -> tuple[Row, list[RowMapping]]:
        agent_id = None
        if agent_name is not None and agent_name.strip():
            project, agent = await project_and_agent(session, project_key, agent_name)
            agent_id = agent["id"]
        else:
            project = await resolve_project(session, project_key)
        request = fulltext.Request(
            scope=fulltext.Scope(project["id"], agent_id),
            snippet=fulltext.Snippet(HIT_OPEN, HIT_CLOSE, _SNIPPET_WORDS),
            limit=limit,
            window=RANK_WINDOW,
        )
        return project, (await fulltext.search(session, query, request)).rows

    project, rows = await run_read(read, snapshot=False)
    return [_hit(row, project["id"]) for row in rows]
