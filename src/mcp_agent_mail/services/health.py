"""Health: is the database reachable and is the archive keeping up?"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mcp_agent_mail import __version__, archive
from mcp_agent_mail.archive.locks import lock_report
from mcp_agent_mail.archive.outbox import FAILED_COUNT, FailedEntry, failed_entries_stmt
from mcp_agent_mail.archive.repo import ARCHIVE_LOCK_NAME
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.db.engine import database_lock_holder
from mcp_agent_mail.db.failures import database_error
from mcp_agent_mail.errors import AgentMailError

_PENDING = select(func.count()).select_from(schema.archive_outbox)
_LATEST_FAILURE = failed_entries_stmt(1)
FAILED_HINT = "Run `mcp-agent-mail doctor check` to see the failed archive changes and `doctor repair` to retry them."


@lru_cache(maxsize=8)
def _backend(url: str) -> str:
    """Return ``sqlite`` or ``postgresql`` (``unknown`` for a URL the server would refuse)."""
    try:
        return parse_database_url(url).dialect
    except AgentMailError:
        return "unknown"


async def _archive_backlog(session: ReadTransaction) -> tuple[int, int, FailedEntry | None]:
    pending = int((await session.execute(_PENDING)).scalar_one())
    failed = int((await session.execute(FAILED_COUNT)).scalar_one()) if pending else 0
    latest = (await session.execute(_LATEST_FAILURE)).mappings().first() if failed else None
    return pending, failed, FailedEntry.from_row(latest) if latest is not None else None


async def health_check(transport: str | None = None) -> dict[str, Any]:
    """Probe the database and report the archive backlog and failed archive changes; never reveals credentials.

    ``transport`` is how the caller reached the server; over stdio no HTTP address is reported.
    """
    settings = get_settings()
    result: dict[str, Any] = {"status": "ok", "version": __version__, "environment": settings.environment}
    if transport != "stdio":
        result["http_host"] = settings.http.host
        result["http_port"] = settings.http.port
    result["database_backend"] = _backend(settings.database.url)
    try:
        pending, failed, latest = await run_read(_archive_backlog)
        result["database"] = "ok"
        result["archive_pending"] = pending
        result["archive_failed"] = failed
        if latest is not None:
            result["status"] = "degraded"
            result["archive_last_error"] = latest.describe()
            result["hint"] = FAILED_HINT
    except Exception as exc:  # the probe itself must not fail
        result["status"] = "degraded"
        result["database"] = f"error: {type(exc).__name__}"
        coded = exc if isinstance(exc, AgentMailError) else database_error(exc)
        if coded is not None:
            result["database_error"] = coded.code
            result["hint"] = coded.hint
    return result


async def archive_locks() -> dict[str, Any]:
    """Report the archive writer lock, Git lock files (stale ones flagged) and the outbox backlog; changes nothing."""
    settings = get_settings()
    holder = await asyncio.to_thread(database_lock_holder, ARCHIVE_LOCK_NAME, settings)
    report = await asyncio.to_thread(lock_report, Path(settings.storage.root), holder)
    pending = await asyncio.to_thread(archive.pending_count, settings)
    return {**report, "archive_pending": pending}
