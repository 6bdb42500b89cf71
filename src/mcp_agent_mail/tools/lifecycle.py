"""Lifecycle tools: retire, unretire, deregister, archive/unarchive projects, hard deletes and purging old mail."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import hard_delete, lifecycle
from mcp_agent_mail.tools._adapter import agent_mail_tool

ProjectKey = Annotated[str, Field(description="Absolute path of the repository (or the project slug).")]
AgentName = Annotated[str, Field(description="The agent's name, e.g. GreenCastle.")]
Confirmation = Annotated[
    str | None, Field(description='Must be exactly "I UNDERSTAND"; anything else deletes nothing.')
]


def register(mcp: FastMCP) -> None:
    """Add the lifecycle tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def retire_agent(project_key: ProjectKey, agent_name: AgentName) -> dict[str, Any]:
        """Retire an agent when its work is done: it can no longer send or receive mail, and its active file
        reservations are released. History stays. Undo with unretire_agent.

        Returns {status:"retired", agent_name, project_key, retired_at, contact_policy, [released_reservations]}.
        """
        return await lifecycle.retire_agent(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def unretire_agent(project_key: ProjectKey, agent_name: AgentName) -> dict[str, Any]:
        """Bring a retired or deregistered agent back so it can send and receive mail again.

        The contact policy is left unchanged (a deregistered agent still blocks all mail until set_contact_policy).
        Returns {status:"active", agent_name, project_key, contact_policy}.
        """
        return await lifecycle.unretire_agent(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def deregister_agent(project_key: ProjectKey, agent_name: AgentName) -> dict[str, Any]:
        """Take an agent out of service for good: retired (no sending or receiving) and blocking all contact;
        its reservations are released and its history kept. Use hard_delete_agent to erase it instead.

        Returns {status:"deregistered", agent_name, project_key, retired_at, contact_policy:"block_all"}.
        """
        return await lifecycle.deregister_agent(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True)
    async def archive_project(project_key: ProjectKey) -> dict[str, Any]:
        """Archive a finished project: its history stays readable but it accepts no new mail, reservations or
        agents until unarchive_project. In strict identity mode pass the registration_token of one of its agents.

        Returns {status:"archived", project_key, slug, archived_at}.
        """
        return await lifecycle.archive_project(project_key)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True)
    async def unarchive_project(project_key: ProjectKey) -> dict[str, Any]:
        """Make an archived project writable again. In strict identity mode pass the registration_token of one
        of its agents. Returns {status:"active", project_key, slug}.
        """
        return await lifecycle.unarchive_project(project_key)

    @agent_mail_tool(mcp, read_only=False, destructive=True, acts_as="agent_name")
    async def hard_delete_agent(
        project_key: ProjectKey, agent_name: AgentName, confirmation: Confirmation = None
    ) -> dict[str, Any]:
        """Erase an agent for good: its profile, the mail it sent, its copies of mail it received, its file
        reservations and contact links, from the database and the Git archive. Cannot be undone; prefer
        deregister_agent to keep history. Requires confirmation="I UNDERSTAND".

        Returns {status:"hard_deleted", agent_name, project_key, deleted_counts:{messages_sent,
        sent_message_recipients, message_recipients, file_reservations, agent_links, message_summaries, agent}}.
        """
        return await hard_delete.hard_delete_agent(project_key, agent_name, confirmation)

    @agent_mail_tool(mcp, read_only=False, destructive=True, project_admin=True)
    async def hard_delete_project(project_key: ProjectKey, confirmation: Confirmation = None) -> dict[str, Any]:
        """Erase a whole project for good: agents, mail (including mail its agents sent to other projects),
        reservations and links, from the database and the Git archive. Cannot be undone; prefer archive_project.
        Requires confirmation="I UNDERSTAND" and, in strict identity mode, the registration_token of one of its
        agents.

        Returns {status:"hard_deleted", project_key, slug, deleted_counts:{agents, messages, message_recipients,
        file_reservations, agent_links, message_summaries, project}}.
        """
        return await hard_delete.hard_delete_project(project_key, confirmation)

    @agent_mail_tool(mcp, read_only=False, destructive=True, project_admin=True)
    async def purge_old_messages(
        project_key: ProjectKey,
        max_age_days: Annotated[
            int | None,
            Field(description="Delete messages older than this many days (1-36500); default RETENTION_MAX_AGE_DAYS."),
        ] = None,
        dry_run: Annotated[bool, Field(description="True (default) only reports what would be deleted.")] = True,
        confirmation: Annotated[
            str | None, Field(description='Needed when dry_run is false: exactly "I UNDERSTAND".')
        ] = None,
    ) -> dict[str, Any]:
        """Delete a project's messages older than max_age_days (with their recipients and archive files).

        Run it first with dry_run=true (the default) to see messages_affected and the first message_ids; then
        with dry_run=false and confirmation="I UNDERSTAND". In strict identity mode pass the registration_token
        of one of the project's agents. Returns {status:"dry_run"|"purged", project_key, messages_affected,
        cutoff_date, max_age_days, [message_ids]}.
        """
        return await hard_delete.purge_old_messages(project_key, max_age_days, dry_run, confirmation)
