"""Tools for mail: send_message, reply_message, fetch_inbox, receipts and search_messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services.mail import inbox, messages, search
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.params import Bodies, Limit, Me, MessageId, Names, ProjectKey, SinceTs, str_list

# A sender's own id for one message: a retry with the same id sends nothing new (the service checks its form).
ClientMsgId = str | None


def _names(value: list[str] | str | None) -> list[str] | None:
    """Accept one name given as a plain string as well as a list of names."""
    return [value] if isinstance(value, str) else value


def register(mcp: FastMCP) -> None:
    """Add the messaging tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, acts_as="sender_name", token_param="sender_token", output=out.SEND)
    async def send_message(
        project_key: ProjectKey,
        sender_name: Me,
        to: Annotated[list[str] | str, str_list("Names or Name@project.")],
        subject: str,
        body_md: Annotated[str, Field(description="Markdown; ![](a.png) attaches.")],
        cc: Names = None,
        bcc: Names = None,
        importance: Annotated[str, Field(json_schema_extra={"enum": ["low", "normal", "high", "urgent"]})] = "normal",
        ack_required: bool = False,
        thread_id: Annotated[str | None, Field(description="FEAT-12 or message id.")] = None,
        topic: str | None = None,
        attachment_paths: Annotated[list[str] | str | None, str_list("Repo files.")] = None,
        convert_images: bool | None = None,
        broadcast: Annotated[bool, Field(description="All agents, to=[]")] = False,
        auto_contact_if_blocked: bool | None = None,
        client_msg_id: ClientMsgId = None,
    ) -> dict[str, Any]:
        """Send mail; deliveries[].payload.id names its thread. A refusing policy sends nothing: CONTACT_REQUIRED
        (request_contact) or CONTACT_BLOCKED. A retried client_msg_id sends once."""
        return await messages.send_message(
            project_key,
            sender_name,
            _names(to),
            subject,
            body_md,
            _names(cc),
            _names(bcc),
            importance,
            ack_required,
            thread_id,
            topic,
            _names(attachment_paths),
            convert_images,
            broadcast,
            auto_contact_if_blocked,
            client_msg_id,
        )

    @agent_mail_tool(mcp, read_only=False, acts_as="sender_name", token_param="sender_token", output=out.REPLY)
    async def reply_message(
        project_key: ProjectKey,
        message_id: MessageId,
        sender_name: Me,
        body_md: str,
        to: Annotated[list[str] | str | None, str_list("Default: original sender.")] = None,
        cc: Names = None,
        bcc: Names = None,
        subject_prefix: str = "Re:",
        client_msg_id: ClientMsgId = None,
    ) -> dict[str, Any]:
        """Reply in the thread of a message you got."""
        return await messages.reply_message(
            project_key,
            message_id,
            sender_name,
            body_md,
            _names(to),
            _names(cc),
            _names(bcc),
            subject_prefix,
            client_msg_id,
        )

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name", listing=True, output=out.INBOX)
    async def fetch_inbox(
        project_key: ProjectKey,
        agent_name: Me,
        limit: Limit = 20,
        urgent_only: bool = False,
        include_bodies: Bodies = False,
        since_ts: SinceTs = None,
        topic: str | None = None,
        unread_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Newest first, not marked read. Ack if ack_required."""
        return await inbox.fetch_inbox(
            project_key, agent_name, limit, urgent_only, include_bodies, since_ts, topic, unread_only
        )

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.READ)
    async def mark_message_read(project_key: ProjectKey, agent_name: Me, message_id: MessageId) -> dict[str, Any]:
        """Mark a message of your inbox read (keeps the first read time)."""
        return await inbox.mark_message_read(project_key, agent_name, message_id)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.ACK)
    async def acknowledge_message(project_key: ProjectKey, agent_name: Me, message_id: MessageId) -> dict[str, Any]:
        """Acknowledge an inbox message; marks it read."""
        return await inbox.acknowledge_message(project_key, agent_name, message_id)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name", listing=True, output=out.SEARCH)
    async def search_messages(
        project_key: ProjectKey,
        query: Annotated[str, Field(description='Words, "phrases", prefix*, AND/OR/NOT.')],
        limit: Limit = 20,
        agent_name: Annotated[str | None, Field(description="Its sent/received mail.")] = None,
    ) -> list[dict[str, Any]]:
        """Search subjects and bodies, best match first."""
        return await search.search_messages(project_key, query, limit, agent_name)
