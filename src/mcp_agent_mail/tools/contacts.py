"""Tools for contacts: request_contact, respond_contact, list_contacts and macro_contact_handshake."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services import contacts
from mcp_agent_mail.tools._adapter import agent_mail_tool, current_session_key

ProjectKey = Annotated[str, Field(description="Absolute path of your repository (or its project slug).")]
OtherProject = Annotated[
    str | None, Field(description="The other agent's project (slug or path) when it is not yours.")
]
Reason = Annotated[str, Field(description="Why you want to write to the agent (max 512 characters).")]


def _pick(primary: str | None, alias: str | None, field: str) -> str:
    value = primary if primary is not None and primary.strip() else alias
    if value is None or not value.strip():
        raise InvalidArgumentError(f"{field} is missing.", hint=f"Pass {field} (the agent's name).")
    return value


def register(mcp: FastMCP) -> None:
    """Add the contact tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, acts_as="from_agent")
    async def request_contact(
        project_key: ProjectKey,
        from_agent: Annotated[str, Field(description="Your agent name (the requester).")],
        to_agent: Annotated[
            str, Field(description="The agent you want to write to; Name@project for another project.")
        ],
        to_project: OtherProject = None,
        reason: Reason = "",
        ttl_seconds: Annotated[
            int, Field(description="How long the request stays open, in seconds (60 to 31536000).")
        ] = contacts.REQUEST_TTL_SECONDS,
    ) -> dict[str, Any]:
        """Ask another agent (here or in another project) for permission to send it mail.

        Use it when send_message fails with CONTACT_REQUIRED. Creates or refreshes a pending link and sends
        the agent an intro message asking it to call respond_contact; nothing more is sent while the request
        is pending. Returns {from, from_project, to, to_project, status, expires_ts, [notification_message]};
        once status is approved (see list_contacts), send your message.
        """
        return await contacts.request_contact(project_key, from_agent, to_agent, to_project, reason, ttl_seconds)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="to_agent")
    async def respond_contact(
        project_key: ProjectKey,
        to_agent: Annotated[str, Field(description="Your agent name (the one who was asked).")],
        from_agent: Annotated[str, Field(description="The agent that asked; Name@project for another project.")],
        accept: Annotated[bool, Field(description="True to allow its mail, False to block it.")],
        from_project: OtherProject = None,
        ttl_seconds: Annotated[
            int, Field(description="How long an approval lasts, in seconds (60 to 31536000).")
        ] = contacts.APPROVAL_TTL_SECONDS,
    ) -> dict[str, Any]:
        """Answer a contact request from your inbox: accept lets from_agent write to you until expires_ts.

        Refusing blocks that agent: it can neither write to you nor ask again until you accept later.
        Approval is one-way (from_agent -> you). Returns {from, from_project, to, to_project, approved,
        status, expires_ts, updated}.
        """
        return await contacts.respond_contact(project_key, to_agent, from_agent, accept, from_project, ttl_seconds)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name")
    async def list_contacts(
        project_key: ProjectKey,
        agent_name: Annotated[str, Field(description="Your agent name.")],
    ) -> list[dict[str, Any]]:
        """List your contact links, newest first: requests you made (direction outgoing) and requests made to
        you (incoming), each with status (pending, approved, blocked), is_expired, allows_messaging, reason,
        updated_ts and expires_ts. Answer incoming pending ones with respond_contact.
        """
        return await contacts.list_contacts(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, acts_as="requester")
    async def macro_contact_handshake(
        project_key: ProjectKey,
        requester: Annotated[str | None, Field(description="Your agent name (the requester).")] = None,
        target: Annotated[
            str | None, Field(description="The agent you want to write to; Name@project for another project.")
        ] = None,
        to_project: OtherProject = None,
        reason: Reason = "",
        ttl_seconds: Annotated[int, Field(description="Lifetime of the request or approval, in seconds.")] = (
            contacts.REQUEST_TTL_SECONDS
        ),
        auto_accept: Annotated[
            bool, Field(description="Also approve the link, when you may act as the target (e.g. you run both).")
        ] = False,
        welcome_subject: Annotated[
            str | None, Field(description="Subject of a first message (needs auto_accept).")
        ] = None,
        welcome_body: Annotated[str | None, Field(description="Body of that first message, in Markdown.")] = None,
        thread_id: Annotated[str | None, Field(description="Thread for the welcome message.")] = None,
        target_registration_token: Annotated[
            str | None, Field(description="The target's registration_token, needed for auto_accept in strict mode.")
        ] = None,
        agent_name: Annotated[str | None, Field(description="Alias of requester.")] = None,
        to_agent: Annotated[str | None, Field(description="Alias of target.")] = None,
    ) -> dict[str, Any]:
        """Set up contact in one call: request it, and with auto_accept approve it and optionally send a welcome.

        Without auto_accept this is request_contact. With auto_accept (allowed when you may act as the target:
        its token, or the session that registered it, in strict identity mode) the link is approved at once,
        and the welcome message, if given, is sent in the same transaction.
        Returns {request, [response], [welcome_message]}; failures raise a coded error and change nothing.
        """
        return await contacts.contact_handshake(
            project_key,
            _pick(requester, agent_name, "requester"),
            _pick(target, to_agent, "target"),
            to_project,
            reason,
            ttl_seconds,
            auto_accept,
            welcome_subject,
            welcome_body,
            thread_id,
            target_registration_token,
            current_session_key(),
        )
