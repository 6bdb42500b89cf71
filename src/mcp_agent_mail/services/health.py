"""Health: is the database reachable and is the archive keeping up?"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_agent_mail import __version__
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import run_read, schema

_PENDING = select(func.count()).select_from(schema.archive_outbox)


@lru_cache(maxsize=8)
def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


async def _pending(session: AsyncSession) -> int:
    return int((await session.execute(_PENDING)).scalar_one())


async def health_check() -> dict[str, Any]:
    """Probe the database and report the archive backlog; never reveals credentials."""
    settings = get_settings()
    result: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "environment": settings.environment,
        "http_host": settings.http.host,
        "http_port": settings.http.port,
        "database_backend": _backend(settings.database.url),
    }
    try:
        pending = await run_read(_pending)
        result["database"] = "ok"
        result["archive_pending"] = pending
    except Exception as exc:  # the probe itself must not fail
        result["status"] = "degraded"
        result["database"] = f"error: {type(exc).__name__}"
    return result
