"""What every full-text engine is asked and answers: the request, the visibility scope and the row shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Boolean, Float, String, TextClause, TextualSelect

from mcp_agent_mail.db.types import UTCDateTime

Order = Literal["relevance", "time"]
ORDERS: tuple[Order, ...] = ("relevance", "time")

COLUMNS = (
    "id, subject, importance, ack_required, created_ts, thread_id, "
    "sender_name, sender_project_id, sender_slug, rank, snippet, body_md"
)
"""The columns of every result row; ``rank`` sorts best first (lower is better), ``snippet`` is marked text."""


@dataclass(frozen=True)
class Scope:
    """Whose mail is searched: a project's (stored there or delivered to its agents) or one agent's own."""

    project_id: int
    agent_id: int | None = None


@dataclass(frozen=True)
class Snippet:
    """How snippets are cut and marked: the markers around matched words and the length in words."""

    open: str
    close: str
    words: int


@dataclass(frozen=True)
class Request:
    """One search: scope, order, page, and how many of the newest matches to rank (None: all of them)."""

    scope: Scope
    snippet: Snippet
    order: Order = "relevance"
    limit: int = 20
    offset: int = 0
    window: int | None = None


def scope_sql(agent_scope: bool) -> str:
    """Return the visibility condition on ``m`` (params ``project_id`` or ``agent_id``), starting with AND."""
    if not agent_scope:
        return (
            " AND (m.project_id = :project_id OR EXISTS (SELECT 1 FROM message_recipients r "
            "JOIN agents ra ON ra.id = r.agent_id WHERE r.message_id = m.id AND ra.project_id = :project_id))"
        )
    return (
        " AND (m.sender_id = :agent_id OR EXISTS (SELECT 1 FROM message_recipients r "
        "WHERE r.message_id = m.id AND r.agent_id = :agent_id))"
    )


def params(request: Request) -> dict[str, object]:
    """Return the bind parameters shared by every engine's statement."""
    return {
        "project_id": request.scope.project_id,
        "agent_id": request.scope.agent_id,
        "limit": request.limit,
        "offset": request.offset,
        "window": request.window,
    }


def sql_literal(value: str) -> str:
    """Quote a string of ours as an SQL literal."""
    return "'" + value.replace("'", "''") + "'"


def typed(statement: TextClause) -> TextualSelect:
    """Give a result statement the column types the services read."""
    return statement.columns(
        created_ts=UTCDateTime(), ack_required=Boolean(), rank=Float(), snippet=String(), body_md=String()
    )


SELECT_MESSAGE = (
    "m.id, m.subject, m.importance, m.ack_required, m.created_ts, m.thread_id, "
    "a.name AS sender_name, a.project_id AS sender_project_id, sp.slug AS sender_slug"
)
JOIN_SENDER = "JOIN agents a ON a.id = m.sender_id JOIN projects sp ON sp.id = a.project_id"

__all__ = [
    "COLUMNS",
    "JOIN_SENDER",
    "ORDERS",
    "SELECT_MESSAGE",
    "Order",
    "Request",
    "Scope",
    "Snippet",
    "params",
    "scope_sql",
    "sql_literal",
    "typed",
]
