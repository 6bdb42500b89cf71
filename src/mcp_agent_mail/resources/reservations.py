"""The file reservations resource: a project's leases with staleness facts, read without releasing anything."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail.resources._common import bool_param, json_resource
from mcp_agent_mail.services.reservations.status import reservation_statuses


def register(mcp: FastMCP) -> None:
    """Register the file reservations resource."""

    @json_resource(
        mcp,
        "resource://file_reservations/{slug}{?active_only}",
        name="file_reservations",
        description="A project's file reservations, oldest first: {id, agent, path_pattern, exclusive, reason?, "
        "created_ts, expires_ts, status (active|expired|released), released_ts?}; active ones add stale, "
        "stale_reasons and last_*_activity_ts evidence. active_only (default true). Reading releases nothing.",
    )
    async def file_reservations(slug: str, active_only: str | None = None) -> list[dict[str, Any]]:
        only_active = bool_param(active_only, "active_only", True)
        return await reservation_statuses(slug, active_only=only_active)
