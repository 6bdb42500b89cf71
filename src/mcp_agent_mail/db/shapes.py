"""Rows shaped as plain dicts, shared by the results clients see and the Git archive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from mcp_agent_mail.timeutil import iso


def agent_label(name: str, agent_project_id: int, agent_slug: str, reader_project_id: int) -> str:
    """Name an agent for a reader: ``name`` in the reader's project, ``name@slug`` from another project."""
    return name if agent_project_id == reader_project_id else f"{name}@{agent_slug}"


def project_dict(row: RowMapping) -> dict[str, Any]:
    """Shape a project row (``archived_at`` only when set)."""
    result: dict[str, Any] = {
        "id": row["id"],
        "slug": row["slug"],
        "human_key": row["human_key"],
        "created_at": iso(row["created_at"]),
    }
    if row["archived_at"] is not None:
        result["archived_at"] = iso(row["archived_at"])
    return result


def agent_dict(row: RowMapping) -> dict[str, Any]:
    """Shape an agent row; never includes tokens, token hashes or the contact policy."""
    result: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "program": row["program"],
        "model": row["model"],
        "task_description": row["task_description"],
        "inception_ts": iso(row["inception_ts"]),
        "last_active_ts": iso(row["last_active_ts"]),
        "project_id": row["project_id"],
        "attachments_policy": row["attachments_policy"],
    }
    if row["retired_at"] is not None:
        result["retired_at"] = iso(row["retired_at"])
    return result


def reservation_dict(row: RowMapping, *, project: str | None = None) -> dict[str, Any]:
    """Shape a reservation row joined with its holder's name (``agent``); ``released_ts`` only when set.

    ``project`` (a project's path, as the archive's JSON files name it) follows the id when given.
    """
    result: dict[str, Any] = {"id": row["id"]}
    if project is not None:
        result["project"] = project
    result.update(
        agent=row["agent"],
        path_pattern=row["path_pattern"],
        exclusive=bool(row["exclusive"]),
        reason=row["reason"],
        created_ts=iso(row["created_ts"]),
        expires_ts=iso(row["expires_ts"]),
    )
    if row.get("released_ts") is not None:
        result["released_ts"] = iso(row["released_ts"])
    return result
