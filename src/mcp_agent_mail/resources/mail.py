"""Mail resources: inbox, outbox, mailbox (optionally with archive commits), threads and single messages."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.resources._common import (
    authorize_owner,
    bool_param,
    int_param,
    json_resource,
    require_project,
    viewer,
)
from mcp_agent_mail.services.mail import views

_AUTH = " In strict identity mode pass agent_token (the agent's registration_token) unless this session registered it."


def register(mcp: FastMCP) -> None:
    """Register the mail resources."""

    @json_resource(
        mcp,
        "resource://inbox/{agent}{?project,limit,urgent_only,unread_only,include_bodies,since_ts,agent_token}",
        name="inbox",
        description="An agent's received mail, newest first, without marking anything read: "
        "{project, agent, count, messages[kind, read_ts?, ack_ts?]}. limit 1-1000 (20), urgent_only, unread_only, "
        "include_bodies, since_ts (ISO-8601)." + _AUTH,
    )
    async def inbox(
        agent: str,
        project: str | None = None,
        limit: str | None = None,
        urgent_only: str | None = None,
        unread_only: str | None = None,
        include_bodies: str | None = None,
        since_ts: str | None = None,
        agent_token: str | None = None,
    ) -> dict[str, Any]:
        key = require_project(project, "inbox/{agent}")
        size = int_param(limit, "limit", 20)
        urgent = bool_param(urgent_only, "urgent_only", False)
        unread = bool_param(unread_only, "unread_only", False)
        bodies = bool_param(include_bodies, "include_bodies", False)
        await authorize_owner(key, agent, agent_token, f"the inbox of {agent}")
        return await views.inbox_view(
            key, agent, limit=size, urgent_only=urgent, include_bodies=bodies, since_ts=since_ts, unread_only=unread
        )

    @json_resource(
        mcp,
        "resource://outbox/{agent}{?project,limit,include_bodies,since_ts,agent_token}",
        name="outbox",
        description="Messages an agent sent, newest first, each with to/cc/bcc: {project, agent, count, messages}. "
        "limit 1-1000 (20), include_bodies, since_ts." + _AUTH,
    )
    async def outbox(
        agent: str,
        project: str | None = None,
        limit: str | None = None,
        include_bodies: str | None = None,
        since_ts: str | None = None,
        agent_token: str | None = None,
    ) -> dict[str, Any]:
        key = require_project(project, "outbox/{agent}")
        size = int_param(limit, "limit", 20)
        bodies = bool_param(include_bodies, "include_bodies", False)
        await authorize_owner(key, agent, agent_token, f"the outbox of {agent}")
        return await views.outbox_view(key, agent, limit=size, include_bodies=bodies, since_ts=since_ts)

    @json_resource(
        mcp,
        "resource://mailbox/{agent}{?project,limit,agent_token}",
        name="mailbox",
        description="The latest received messages of an agent, without bodies: {project, agent, count, messages}. "
        "limit 1-1000 (20)." + _AUTH,
    )
    async def mailbox(
        agent: str, project: str | None = None, limit: str | None = None, agent_token: str | None = None
    ) -> dict[str, Any]:
        key = require_project(project, "mailbox/{agent}")
        size = int_param(limit, "limit", 20)
        await authorize_owner(key, agent, agent_token, f"the mailbox of {agent}")
        return await views.mailbox_view(key, agent, limit=size, with_commits=False)

    @json_resource(
        mcp,
        "resource://mailbox-with-commits/{agent}{?project,limit,agent_token}",
        name="mailbox-with-commits",
        description="Like mailbox, and each message carries commit {hexsha, summary, authored_ts}: the Git archive "
        "commit that added it (absent while the archive has not caught up)." + _AUTH,
    )
    async def mailbox_with_commits(
        agent: str, project: str | None = None, limit: str | None = None, agent_token: str | None = None
    ) -> dict[str, Any]:
        key = require_project(project, "mailbox-with-commits/{agent}")
        size = int_param(limit, "limit", 20)
        await authorize_owner(key, agent, agent_token, f"the mailbox of {agent}")
        return await views.mailbox_view(key, agent, limit=size, with_commits=True)

    @json_resource(
        mcp,
        "resource://thread/{thread_id}{?project,agent,agent_token,include_bodies,limit}",
        name="thread",
        description="The messages of a thread that you sent or received, oldest first: {project, thread_id, viewer, "
        "count, messages}. thread_id may be the id of the thread's first message. agent names you (or pass "
        "agent_token); without it (trusted mode only) you see the project's messages, bcc hidden. include_bodies; "
        "limit 1-1000 (200).",
    )
    async def thread(
        thread_id: str,
        project: str | None = None,
        agent: str | None = None,
        agent_token: str | None = None,
        include_bodies: str | None = None,
        limit: str | None = None,
    ) -> dict[str, Any]:
        key = require_project(project, "thread/{thread_id}")
        bodies = bool_param(include_bodies, "include_bodies", False)
        size = int_param(limit, "limit", 200)
        project_row, reader = await viewer(key, agent, agent_token, "thread/{thread_id}")
        return await views.thread_view(project_row, reader, thread_id, include_bodies=bodies, limit=size)

    @json_resource(
        mcp,
        "resource://message/{message_id}{?project,agent,agent_token}",
        name="message",
        description="One message you sent or received, with body_md and its recipients (bcc only to its sender). "
        "agent names you (or pass agent_token); without it (trusted mode only) bcc is hidden.",
    )
    async def message(
        message_id: str, project: str | None = None, agent: str | None = None, agent_token: str | None = None
    ) -> dict[str, Any]:
        key = require_project(project, "message/{message_id}")
        if not message_id.strip().isdigit():
            raise InvalidArgumentError(f"message_id must be a number; got {message_id!r}.")
        project_row, reader = await viewer(key, agent, agent_token, "message/{message_id}")
        return await views.message_view(project_row, reader, int(message_id.strip()))
