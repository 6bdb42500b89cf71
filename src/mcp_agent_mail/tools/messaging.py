"""Tools for mail: send_message, reply_message, fetch_inbox, receipts and search_messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import inbox, messages, search
from mcp_agent_mail.tools._adapter import agent_mail_tool

ProjectKey = Annotated[str, Field(description="Absolute path of the repository (or the project slug).")]
AgentName = Annotated[str, Field(description="Your agent name, e.g. GreenCastle.")]
MessageId = Annotated[int, Field(description="Message id, as returned by send_message or fetch_inbox.")]
Names = Annotated[
    list[str] | str | None, Field(description="Agent names in this project (Name@project for another project).")
]
Limit = Annotated[int, Field(description="Maximum number of results (1-1000).")]


def _names(value: list[str] | str | None) -> list[str] | None:
    """Accept one name given as a plain string as well as a list of names."""
    return [value] if isinstance(value, str) else value


def register(mcp: FastMCP) -> None:
    """Add the messaging tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, acts_as="sender_name", token_param="sender_token")
    async def send_message(
        project_key: ProjectKey,
        sender_name: Annotated[str, Field(description="Your agent name (the sender).")],
        to: Annotated[
            list[str] | str,
            Field(description="Agent names here, or Name@project for another project; [] with broadcast."),
        ],
        subject: Annotated[str, Field(description="Short subject line (longer than 200 characters is cut).")],
        body_md: Annotated[
            str, Field(description="GitHub-flavoured Markdown; ![alt](path/in/repo.png) images are attached.")
        ],
        cc: Names = None,
        bcc: Annotated[list[str] | str | None, Field(description="Hidden recipients; only you see this list.")] = None,
        importance: Annotated[str, Field(description="low, normal, high or urgent.")] = "normal",
        ack_required: Annotated[bool, Field(description="Ask recipients to call acknowledge_message.")] = False,
        thread_id: Annotated[
            str | None, Field(description="Thread to post in, e.g. a ticket key or the id of the first message.")
        ] = None,
        topic: Annotated[str | None, Field(description="Optional topic label (letters, digits, _ and -).")] = None,
        attachment_paths: Annotated[
            list[str] | str | None,
            Field(description="Files to attach, relative to the repository (e.g. docs/flow.png); images become WebP."),
        ] = None,
        convert_images: Annotated[
            bool | None, Field(description="Convert images to WebP and inline small ones (default: server setting).")
        ] = None,
        broadcast: Annotated[
            bool, Field(description="Send to every active agent of the project that accepts your mail (to must be []).")
        ] = False,
        auto_contact_if_blocked: Annotated[
            bool | None,
            Field(description="Send contact requests to recipients that need approval (the send still fails)."),
        ] = None,
    ) -> dict[str, Any]:
        """Send a Markdown message to agents of this project (or Name@project elsewhere); each recipient gets it once.

        Returns {deliveries:[{project, payload}], count, [attachments], [skipped]}; payload.id is the new message id,
        which also names its thread for follow-ups (pass it as thread_id). Unknown names fail with suggestions;
        a recipient whose contact policy refuses you fails the whole send with CONTACT_REQUIRED (call
        request_contact) or CONTACT_BLOCKED. Attachments must lie inside the repository.
        """
        return await messages.send_message(
            project_key, sender_name, _names(to), subject, body_md, _names(cc), _names(bcc),
            importance, ack_required, thread_id, topic, _names(attachment_paths), convert_images,
            broadcast, auto_contact_if_blocked,
        )

    @agent_mail_tool(mcp, read_only=False, acts_as="sender_name", token_param="sender_token")
    async def reply_message(
        project_key: ProjectKey,
        message_id: MessageId,
        sender_name: Annotated[str, Field(description="Your agent name (the sender of the reply).")],
        body_md: Annotated[str, Field(description="Reply body in Markdown.")],
        to: Annotated[
            list[str] | str | None, Field(description="Recipients; default is the original sender (or its recipients).")
        ] = None,
        cc: Names = None,
        bcc: Names = None,
        subject_prefix: Annotated[str, Field(description="Prefix added once to the subject.")] = "Re:",
    ) -> dict[str, Any]:
        """Reply to a message you sent or received, in its thread, keeping its importance and ack flag.

        By default the reply goes to the original sender (to its recipients when you wrote the original), also
        across projects. Contact policies apply as for send_message; having exchanged mail in the thread counts.
        """
        return await messages.reply_message(
            project_key, message_id, sender_name, body_md, _names(to), _names(cc), _names(bcc), subject_prefix
        )

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name")
    async def fetch_inbox(
        project_key: ProjectKey,
        agent_name: AgentName,
        limit: Limit = 20,
        urgent_only: Annotated[bool, Field(description="Only high and urgent messages.")] = False,
        include_bodies: Annotated[bool, Field(description="Include each message's body_md.")] = False,
        since_ts: Annotated[
            str | None, Field(description="Only messages created after this ISO-8601 time.")
        ] = None,
    ) -> list[dict[str, Any]]:
        """List messages addressed to you (to, cc or bcc), newest first. Reading does not mark them read."""
        return await inbox.fetch_inbox(project_key, agent_name, limit, urgent_only, include_bodies, since_ts)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def mark_message_read(
        project_key: ProjectKey, agent_name: AgentName, message_id: MessageId
    ) -> dict[str, Any]:
        """Mark a message in your inbox as read; repeating it keeps the first read time."""
        return await inbox.mark_message_read(project_key, agent_name, message_id)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def acknowledge_message(
        project_key: ProjectKey, agent_name: AgentName, message_id: MessageId
    ) -> dict[str, Any]:
        """Acknowledge a message in your inbox (also marks it read); repeating it keeps the first times."""
        return await inbox.acknowledge_message(project_key, agent_name, message_id)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name")
    async def search_messages(
        project_key: ProjectKey,
        query: Annotated[
            str,
            Field(description='Words, "exact phrases", prefix*, AND/OR/NOT and parentheses; ids like POL-358 work.'),
        ],
        limit: Limit = 20,
        agent_name: Annotated[
            str | None, Field(description="Only messages this agent sent or received.")
        ] = None,
    ) -> list[dict[str, Any]]:
        """Search message subjects and bodies in a project, best match first, with a snippet of each body."""
        return await search.search_messages(project_key, query, limit, agent_name)
