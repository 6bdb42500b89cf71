"""Health: is the database reachable and is the archive keeping up?"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from mcp_agent_mail import __version__
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import get_session, schema


async def health_check() -> dict[str, Any]:
    """Probe the database and report the archive backlog; never reveals credentials."""
    settings = get_settings()
    result: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "environment": settings.environment,
        "http_host": settings.http.host,
        "http_port": settings.http.port,
        "database_backend": make_url(settings.database.url).get_backend_name(),
    }
    try:
        async with get_session() as session:
            await session.execute(text("SELECT 1"))
            pending = (await session.execute(select(func.count()).select_from(schema.archive_outbox))).scalar_one()
        result["database"] = "ok"
        result["archive_pending"] = int(pending)
    except Exception as exc:  # the probe itself must not fail
        result["status"] = "degraded"
        result["database"] = f"error: {type(exc).__name__}"
    return result
