"""Tools for file reservations: reserve, release, renew, and force-release a stale holder's lease."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import lease_takeover
from mcp_agent_mail.services.reservations import leases as reservations
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.params import Me, ProjectKey, TtlSeconds

Patterns = list[str] | None
Ids = list[int] | None


def register(mcp: FastMCP) -> None:
    """Add the file reservation tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, acts_as="agent_name", output=out.RESERVE)
    async def file_reservation_paths(
        project_key: ProjectKey,
        agent_name: Me,
        paths: Annotated[list[str], Field(description="Repo-relative globs (src/**) or tool://x.")],
        ttl_seconds: TtlSeconds = 3600,
        exclusive: Annotated[bool, Field(description="False: shared.")] = True,
        reason: str = "",
    ) -> dict[str, Any]:
        """Reserve files before editing (advisory leases). Paths others hold are not granted but listed in
        conflicts: mail the holder or wait. Release when done."""
        return await reservations.reserve_paths(project_key, agent_name, paths, ttl_seconds, exclusive, reason)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.RELEASE)
    async def release_file_reservations(
        project_key: ProjectKey,
        agent_name: Me,
        paths: Patterns = None,
        file_reservation_ids: Ids = None,
    ) -> dict[str, Any]:
        """Release your file reservations (all, or by paths/ids)."""
        return await reservations.release_reservations(project_key, agent_name, paths, file_reservation_ids)

    @agent_mail_tool(mcp, read_only=False, acts_as="agent_name", output=out.RENEW)
    async def renew_file_reservations(
        project_key: ProjectKey,
        agent_name: Me,
        extend_seconds: int = 1800,
        paths: Patterns = None,
        file_reservation_ids: Ids = None,
    ) -> dict[str, Any]:
        """Extend your active file reservations (all, or by paths/ids)."""
        return await reservations.renew_reservations(
            project_key, agent_name, extend_seconds, paths, file_reservation_ids
        )

    @agent_mail_tool(mcp, read_only=False, destructive=True, acts_as="agent_name", output=out.FORCE_RELEASE)
    async def force_release_file_reservation(
        project_key: ProjectKey,
        agent_name: Me,
        file_reservation_id: Annotated[int, Field(description="From conflicts.")],
        notify_previous: Annotated[bool, Field(description="Mail the holder about it.")] = True,
        note: Annotated[str, Field(description="Note to the holder.")] = "",
    ) -> dict[str, Any]:
        """Release another agent's reservation if its holder went quiet (inactive, no recent mail or file
        changes); else RESERVATION_ACTIVE with reasons."""
        return await lease_takeover.force_release(project_key, agent_name, file_reservation_id, notify_previous, note)
