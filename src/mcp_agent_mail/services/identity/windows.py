"""Window identities: the agent name a terminal window (MCP_AGENT_MAIL_WINDOW_ID) keeps across sessions."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, delete, func, insert, or_, select, update

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import InvalidDisplayNameError, InvalidWindowUuidError, WindowNotFoundError
from mcp_agent_mail.services.identity.names import canonical_adjective_noun, name_key
from mcp_agent_mail.services.identity.project_agent import Row
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.timeutil import iso, utcnow

w = schema.window_identities


def current_window() -> str | None:
    """Return this server's window UUID (lower-case), or None when MCP_AGENT_MAIL_WINDOW_ID is unset or invalid."""
    return get_settings().window_id or None


def parse_window_uuid(value: str) -> str:
    """Return ``value`` as a canonical lower-case UUID, or raise INVALID_WINDOW_UUID."""
    try:
        return str(uuid.UUID((value or "").strip()))
    except ValueError as exc:
        raise InvalidWindowUuidError(f"window_uuid {value!r} is not a UUID.") from exc


def check_display_name(value: str) -> str:
    """Return the PascalCase form of an Adjective+Noun display name, or raise INVALID_DISPLAY_NAME."""
    canonical = canonical_adjective_noun("".join(ch for ch in (value or "") if ch.isalnum()))
    if canonical is None:
        raise InvalidDisplayNameError(f"new_display_name {value!r} is not an Adjective+Noun name.")
    return canonical


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(w.c.expires_ts.is_(None), w.c.expires_ts > now)


def _expiry(now: datetime) -> datetime:
    return now + timedelta(days=get_settings().window_ttl_days)


async def live_identity(session: ReadTransaction, project_id: int, window_uuid: str) -> RowMapping | None:
    """Return the unexpired identity of ``window_uuid`` in the project (UUID matched case-insensitively)."""
    query = select(w).where(
        w.c.project_id == project_id, func.lower(w.c.window_uuid) == window_uuid.lower(), _live(utcnow())
    )
    return (await session.execute(query)).mappings().first()


async def touch(session: WriteTransaction, row: Row) -> None:
    """Mark a window identity used now and push its expiry to max(now, expires) + TTL."""
    now = utcnow()
    expires = row["expires_ts"]
    values: dict[str, Any] = {"last_active_ts": now}
    if expires is not None:
        values["expires_ts"] = _expiry(max(now, expires))
    await session.execute(update(w).where(w.c.id == row["id"]).values(**values))


async def record(session: WriteTransaction, project_id: int, window_uuid: str, display_name: str) -> None:
    """Make ``display_name`` the identity of a window that has no live one (an expired row is replaced)."""
    now = utcnow()
    key = window_uuid.lower()
    await session.execute(delete(w).where(w.c.project_id == project_id, func.lower(w.c.window_uuid) == key))
    await session.execute(
        insert(w).values(
            project_id=project_id,
            window_uuid=key,
            display_name=display_name,
            created_ts=now,
            last_active_ts=now,
            expires_ts=_expiry(now),
        )
    )


def identity_dict(row: RowMapping, now: datetime | None = None) -> dict[str, Any]:
    """Return the public view of a window identity row."""
    now = now or utcnow()
    return {
        "id": row["id"],
        "window_uuid": row["window_uuid"],
        "display_name": row["display_name"],
        "created_ts": iso(row["created_ts"]),
        "last_active_ts": iso(row["last_active_ts"]),
        "expires_ts": iso(row["expires_ts"]),
        "age_days": max(0, (now - row["created_ts"]).days),
    }


async def list_window_identities(project_key: str) -> list[dict[str, Any]]:
    """Return the unexpired window identities of a project, oldest first."""

    async def read(session: ReadTransaction) -> list[RowMapping]:
        project = await resolve_project(session, project_key)
        query = select(w).where(w.c.project_id == project["id"], _live(utcnow())).order_by(w.c.created_ts, w.c.id)
        return list((await session.execute(query)).mappings())

    now = utcnow()
    return [identity_dict(row, now) for row in await run_read(read)]


async def _require_live(session: ReadTransaction, project_key: str, window_uuid: str) -> tuple[int, RowMapping]:
    project = await resolve_project(session, project_key)
    row = await live_identity(session, project["id"], window_uuid)
    if row is None:
        raise WindowNotFoundError(f"No live window identity {window_uuid} in project {project['slug']!r}.")
    return project["id"], row


async def rename_window(project_key: str, window_uuid: str, new_display_name: str) -> dict[str, Any]:
    """Give a live window identity a new Adjective+Noun name that no other live window of the project uses."""
    key = parse_window_uuid(window_uuid)
    name = check_display_name(new_display_name)

    async def unit(session: WriteTransaction) -> dict[str, Any]:
        project_id, row = await _require_live(session, project_key, key)
        others = select(w.c.display_name).where(w.c.project_id == project_id, w.c.id != row["id"], _live(utcnow()))
        if any(name_key(other) == name_key(name) for other in (await session.execute(others)).scalars()):
            raise InvalidDisplayNameError(
                f"Another live window of this project is already called {name!r}.",
                hint="Choose a name no other window uses (see list_window_identities), or expire that window.",
            )
        now = utcnow()
        await session.execute(update(w).where(w.c.id == row["id"]).values(display_name=name, last_active_ts=now))
        return {
            "id": row["id"],
            "window_uuid": row["window_uuid"],
            "display_name": name,
            "old_display_name": row["display_name"],
            "last_active_ts": iso(now),
        }

    return await run_write(unit)


async def expire_window(project_key: str, window_uuid: str) -> dict[str, Any]:
    """End a live window identity now; the window's next registration gets a fresh name."""
    key = parse_window_uuid(window_uuid)

    async def unit(session: WriteTransaction) -> dict[str, Any]:
        _project_id, row = await _require_live(session, project_key, key)
        now = utcnow()
        await session.execute(update(w).where(w.c.id == row["id"]).values(expires_ts=now))
        return {
            "window_uuid": row["window_uuid"],
            "display_name": row["display_name"],
            "expired": True,
            "expired_at": iso(now),
        }

    return await run_write(unit)


async def delete_for_project(session: WriteTransaction, project_id: int) -> None:
    """Delete every window identity of a project."""
    await session.execute(delete(w).where(w.c.project_id == project_id))


async def delete_for_agent(session: WriteTransaction, project_id: int, agent_name: str) -> None:
    """Delete the project's window identities whose display name is ``agent_name`` (case-insensitively)."""
    key = name_key(agent_name)
    rows = (await session.execute(select(w.c.id, w.c.display_name).where(w.c.project_id == project_id))).all()
    ids = [row_id for row_id, display in rows if name_key(display) == key]
    if ids:
        await session.execute(delete(w).where(w.c.id.in_(ids)))
