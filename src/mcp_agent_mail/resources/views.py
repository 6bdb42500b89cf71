"""Attention views: urgent unread mail and messages waiting for an acknowledgement."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.resources._common import authorize_owner, int_param, json_resource, require_project
from mcp_agent_mail.services.mail import views

_AUTH = " In strict identity mode pass agent_token unless this session registered the agent."
_DAY = 86400


def register(mcp: FastMCP) -> None:
    """Register the view resources."""

    @json_resource(
        mcp,
        "resource://views/urgent-unread/{agent}{?project,limit,agent_token}",
        name="views-urgent-unread",
        description="Unread high/urgent messages of an agent, newest first: {project, agent, count, messages}. "
        "limit 1-1000 (20)." + _AUTH,
    )
    async def urgent_unread(
        agent: str, project: str | None = None, limit: str | None = None, agent_token: str | None = None
    ) -> dict[str, Any]:
        key = require_project(project, "views/urgent-unread/{agent}")
        size = int_param(limit, "limit", 20)
        await authorize_owner(key, agent, agent_token, f"the views of {agent}")
        return await views.urgent_unread(key, agent, limit=size)

    @json_resource(
        mcp,
        "resource://views/ack-required/{agent}{?project,limit,agent_token}",
        name="views-ack-required",
        description="Messages waiting for an agent's acknowledgement, newest first: {project, agent, count, "
        "messages}. limit 1-1000 (20)." + _AUTH,
    )
    async def ack_required(
        agent: str, project: str | None = None, limit: str | None = None, agent_token: str | None = None
    ) -> dict[str, Any]:
        key = require_project(project, "views/ack-required/{agent}")
        size = int_param(limit, "limit", 20)
        await authorize_owner(key, agent, agent_token, f"the views of {agent}")
        return await views.ack_required(key, agent, limit=size)

    @json_resource(
        mcp,
        "resource://views/acks-stale/{agent}{?project,ttl_seconds,limit,agent_token}",
        name="views-acks-stale",
        description="Unacknowledged messages older than ttl_seconds (ACK_TTL_SECONDS, 1800), oldest first, "
        "with age_seconds: {project, agent, ttl_seconds, count, messages}. limit 1-1000 (20)." + _AUTH,
    )
    async def acks_stale(
        agent: str,
        project: str | None = None,
        ttl_seconds: str | None = None,
        limit: str | None = None,
        agent_token: str | None = None,
    ) -> dict[str, Any]:
        key = require_project(project, "views/acks-stale/{agent}")
        ttl = int_param(ttl_seconds, "ttl_seconds", get_settings().ack_ttl_seconds, maximum=365 * _DAY)
        size = int_param(limit, "limit", 20)
        await authorize_owner(key, agent, agent_token, f"the views of {agent}")
        return await views.acks_stale(key, agent, ttl_seconds=ttl, limit=size)

    @json_resource(
        mcp,
        "resource://views/ack-overdue/{agent}{?project,ttl_minutes,limit,agent_token}",
        name="views-ack-overdue",
        description="Unacknowledged messages older than ttl_minutes (60), oldest first: {project, agent, "
        "ttl_minutes, count, messages}. limit 1-1000 (50)." + _AUTH,
    )
    async def ack_overdue(
        agent: str,
        project: str | None = None,
        ttl_minutes: str | None = None,
        limit: str | None = None,
        agent_token: str | None = None,
    ) -> dict[str, Any]:
        key = require_project(project, "views/ack-overdue/{agent}")
        ttl = int_param(ttl_minutes, "ttl_minutes", 60, maximum=365 * 24 * 60)
        size = int_param(limit, "limit", 50)
        await authorize_owner(key, agent, agent_token, f"the views of {agent}")
        return await views.ack_overdue(key, agent, ttl_minutes=ttl, limit=size)
