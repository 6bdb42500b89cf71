"""Insert a planned import and queue its archive files, inside the caller's one write transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from mcp_agent_mail.archive.outbox import OutboxKind
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.snapshot import dialect_of
from mcp_agent_mail.services.legacy_import.plan import Plan
from mcp_agent_mail.timeutil import utcnow

_CHUNK = 500
_ORDER: tuple[Table, ...] = (
    schema.projects,
    schema.agents,
    schema.messages,
    schema.message_recipients,
    schema.file_reservations,
    schema.agent_links,
    schema.window_identities,
    schema.message_summaries,
)


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        conn.execute(table.insert(), rows[start : start + _CHUNK])


def _new_blobs(conn: Connection, plan: Plan) -> list[dict[str, Any]]:
    b = schema.attachment_blobs
    wanted = sorted(plan.blobs)
    present: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        present.update(conn.execute(select(b.c.sha256).where(b.c.sha256.in_(wanted[start : start + _CHUNK]))).scalars())
    return [plan.blobs[sha] for sha in wanted if sha not in present]


def _outbox_rows(plan: Plan) -> list[dict[str, Any]]:
    """Return the archive work: every new project and agent, every message, every reservation."""
    now = utcnow()
    work: list[tuple[int, OutboxKind, int]] = []
    work += [(row["id"], "project", row["id"]) for row in plan.rows.get("projects", [])]
    touched = set(plan.new_agents)
    for link in plan.rows.get("agent_links", []):
        touched.add(link["a_agent_id"])  # contacts.json of the link's owner
    work += [(plan.agent_project[agent_id], "agent", agent_id) for agent_id in sorted(touched)]
    work += [(row["project_id"], "message", row["id"]) for row in plan.rows.get("messages", [])]
    work += [(row["project_id"], "reservation", row["id"]) for row in plan.rows.get("file_reservations", [])]
    return [{"project_id": pid, "kind": kind, "ref": str(ref), "created_ts": now} for pid, kind, ref in work]


def write_plan(conn: Connection, plan: Plan) -> int:
    """Insert every planned row and queue the archive's work; return how many outbox rows were queued."""
    for table in _ORDER:
        _insert(conn, table, plan.rows.get(table.name, []))
    _insert(conn, schema.attachment_blobs, _new_blobs(conn, plan))
    # Rows came with their own ids: move each id counter past them so new rows never reuse one.
    rules = dialect_of(conn)
    rules.set_counters(conn, rules.counters(conn))
    outbox = _outbox_rows(plan)
    _insert(conn, schema.archive_outbox, outbox)
    return len(outbox)


__all__ = ["write_plan"]
