"""Tools for file reservations: reserve, release, renew, and force-release a stale holder's lease."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import reservations
from mcp_agent_mail.tools._adapter import agent_mail_tool

ProjectKey = Annotated[str, Field(description="Absolute path of the repository (or the project slug).")]
AgentName = Annotated[str, Field(description="Your agent name, e.g. GreenCastle.")]
Patterns = Annotated[
    list[str] | None,
    Field(description="Only these patterns (compared after normalisation, e.g. ./src/a.py == src/a.py); omit for all."),
]
Ids = Annotated[list[int] | None, Field(description="Only these reservation ids; omit for all.")]


def register(mcp: FastMCP) -> None:
    """Add the file reservation tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, acts_as="agent_name")
    async def file_reservation_paths(
        project_key: ProjectKey,
        agent_name: AgentName,
        paths: Annotated[
            list[str],
            Field(
                description="Paths or gitignore-style globs relative to the repo root (src/app.py, src/**, "
                "*.md), or virtual names like tool://deploy. 1-100 entries."
            ),
        ],
        ttl_seconds: Annotated[
            int, Field(description="Lease length in seconds; must lie within the server's bounds (default 60-604800).")
        ] = 3600,
        exclusive: Annotated[
            bool, Field(description="True to keep others out; False for a shared (read) lease.")
        ] = True,
        reason: Annotated[str, Field(description="Why you need these files (max 512 chars), shown to others.")] = "",
    ) -> dict[str, Any]:
        """Reserve files before editing them, so other agents know to stay away (advisory leases that expire).

        Each pattern is granted unless another agent holds an active overlapping reservation and either side is
        exclusive; such patterns are NOT granted and are listed under conflicts with their holders and expiry.
        On a conflict, message the holder (send_message) to coordinate, work on something else, or retry after
        its expires_ts; if the holder seems to have vanished, call force_release_file_reservation with the
        holder's id. Overlap follows gitignore rules: src/** overlaps src/app.py, *.py overlaps src/*.
        Reserving a pattern you already hold extends it in place (same id). Release with
        release_file_reservations when done; renew_file_reservations extends a lease you still need.
        Returns {granted: [{id, path_pattern, exclusive, reason, expires_ts}],
        conflicts: [{path, holders: [{id, agent, path_pattern, exclusive, expires_ts}]}]}.
        """
        return await reservations.reserve_paths(project_key, agent_name, paths, ttl_seconds, exclusive, reason)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def release_file_reservations(
        project_key: ProjectKey,
        agent_name: AgentName,
        paths: Patterns = None,
        file_reservation_ids: Ids = None,
    ) -> dict[str, Any]:
        """Release your own active file reservations: all of them, or those matching paths and/or ids.

        Safe to repeat: nothing matching gives released 0. Returns {released, released_at}.
        """
        return await reservations.release_reservations(project_key, agent_name, paths, file_reservation_ids)

    @agent_mail_tool(mcp, read_only=False, acts_as="agent_name")
    async def renew_file_reservations(
        project_key: ProjectKey,
        agent_name: AgentName,
        extend_seconds: Annotated[
            int, Field(description="Seconds to add to each lease (within the server's TTL bounds).")
        ] = 1800,
        paths: Patterns = None,
        file_reservation_ids: Ids = None,
    ) -> dict[str, Any]:
        """Extend your own active file reservations while you still need them (all, or by paths and/or ids).

        Each lease becomes max(current expiry, now) + extend_seconds, capped at now + the maximum TTL. Expired
        leases cannot be renewed; reserve them again with file_reservation_paths.
        Returns {renewed, file_reservations: [{id, path_pattern, old_expires_ts, new_expires_ts}]}.
        """
        return await reservations.renew_reservations(
            project_key, agent_name, extend_seconds, paths, file_reservation_ids
        )

    @agent_mail_tool(mcp, read_only=False, destructive=True, acts_as="agent_name")
    async def force_release_file_reservation(
        project_key: ProjectKey,
        agent_name: Annotated[str, Field(description="Your agent name (the one releasing), e.g. GreenCastle.")],
        file_reservation_id: Annotated[
            int, Field(description="Id of the reservation to release (holders under conflicts list it).")
        ],
        notify_previous: Annotated[
            bool, Field(description="Mail the holder that its lease was released and why (default true).")
        ] = True,
        note: Annotated[str, Field(description="Optional note to the holder, included in that mail.")] = "",
    ) -> dict[str, Any]:
        """Release another agent's file reservation that blocks you, when its holder has provably gone quiet.

        Allowed only if the holder has been inactive for the configured time (default 30 min), sent/read/acked no
        mail and, for file patterns, no matching file changed and no commit touched them within the grace period
        (default 15 min). Otherwise it fails with RESERVATION_ACTIVE listing the reasons, and nothing changes:
        message the holder or wait for expiry. On success the holder is told by mail (unless notify_previous is
        false); then reserve the paths yourself with file_reservation_paths. Already released or expired leases
        give {released: 0, already_released: true}. Returns {released: 1, released_at, reservation: {id, agent,
        path_pattern, exclusive, reason, created_ts, expires_ts, released_ts, stale_reasons, last_*_activity_ts,
        notified, notification_error?}}.
        """
        return await reservations.force_release(project_key, agent_name, file_reservation_id, notify_previous, note)
