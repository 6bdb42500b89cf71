"""Tools for contacts: request_contact, respond_contact, list_contacts and macro_contact_handshake."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.mail import contacts
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool, current_session_key
from mcp_agent_mail.tools.params import Me, ProjectKey

OtherProject = Annotated[str | None, Field(description="The other agent's project, if not yours.")]
Reason = Annotated[str, Field(description="Why (max 512 chars).")]
Other = Annotated[str, Field(description="The other agent; Name@project for another project.")]
Ttl = int


def _required(value: str | None, field: str) -> str:
    if value is None or not value.strip():
        raise InvalidArgumentError(f"{field} is missing.", hint=f"Pass {field} (the agent's name).")
    return value


def register(mcp: FastMCP) -> None:
    """Add the contact tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, acts_as="from_agent", output=out.CONTACT)
    async def request_contact(
        project_key: ProjectKey,
        from_agent: Me,
        to_agent: Other,
        to_project: OtherProject = None,
        reason: Reason = "",
        ttl_seconds: Ttl = contacts.REQUEST_TTL_SECONDS,
    ) -> dict[str, Any]:
        """Ask to mail an agent (after CONTACT_REQUIRED); send once list_contacts shows approved."""
        return await contacts.request_contact(project_key, from_agent, to_agent, to_project, reason, ttl_seconds)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="to_agent", output=out.CONTACT)
    async def respond_contact(
        project_key: ProjectKey,
        to_agent: Me,
        from_agent: Other,
        accept: bool,
        from_project: OtherProject = None,
        ttl_seconds: Ttl = contacts.APPROVAL_TTL_SECONDS,
    ) -> dict[str, Any]:
        """Answer a contact request: accept lets from_agent mail you until expires_ts; refusing blocks it."""
        return await contacts.respond_contact(project_key, to_agent, from_agent, accept, from_project, ttl_seconds)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name", listing=True, output=out.CONTACTS)
    async def list_contacts(project_key: ProjectKey, agent_name: Me) -> list[dict[str, Any]]:
        """Your contact links, newest first: pending, approved or blocked. Answer pending incoming ones with
        respond_contact."""
        return await contacts.list_contacts(project_key, agent_name)

    @agent_mail_tool(
        mcp,
        read_only=False,
        acts_as="requester",
        output=out.HANDSHAKE,
        aliases={"agent_name": "requester", "to_agent": "target"},
    )
    async def macro_contact_handshake(
        project_key: ProjectKey,
        requester: str | None = None,
        target: Annotated[str | None, Field(description="The agent; Name@project for another project.")] = None,
        to_project: OtherProject = None,
        reason: Reason = "",
        ttl_seconds: Ttl = contacts.REQUEST_TTL_SECONDS,
        auto_accept: Annotated[bool, Field(description="Also approve, if you may act as the target.")] = False,
        welcome_subject: Annotated[str | None, Field(description="Welcome message (with auto_accept).")] = None,
        welcome_body: str | None = None,
        thread_id: str | None = None,
        target_registration_token: str | None = None,
    ) -> dict[str, Any]:
        """request_contact; with auto_accept (you control both agents) also approve it and send a welcome."""
        return await contacts.contact_handshake(
            project_key,
            _required(requester, "requester"),
            _required(target, "target"),
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
