"""Lifecycle tools: retire, unretire, deregister, archive/unarchive projects, hard deletes and purging old mail."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services.identity import hard_delete, lifecycle
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.params import ProjectKey

AgentName = str
Confirmation = Annotated[str | None, Field(description='Exactly "I UNDERSTAND".')]


def register(mcp: FastMCP) -> None:
    """Add the lifecycle tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.LIFECYCLE)
    async def retire_agent(project_key: ProjectKey, agent_name: AgentName) -> dict[str, Any]:
        """Retire a finished agent: no more mail, reservations released, history kept. Undo: unretire_agent."""
        return await lifecycle.retire_agent(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.LIFECYCLE)
    async def unretire_agent(project_key: ProjectKey, agent_name: AgentName) -> dict[str, Any]:
        """Bring a retired or deregistered agent back into service."""
        return await lifecycle.unretire_agent(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.LIFECYCLE)
    async def deregister_agent(project_key: ProjectKey, agent_name: AgentName) -> dict[str, Any]:
        """Take an agent out of service: retired and blocking all mail, history kept."""
        return await lifecycle.deregister_agent(project_key, agent_name)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True, output=out.PROJECT_STATE)
    async def archive_project(project_key: ProjectKey) -> dict[str, Any]:
        """Archive a finished project: readable, but no new mail, reservations or agents until
        unarchive_project."""
        return await lifecycle.archive_project(project_key)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True, output=out.PROJECT_STATE)
    async def unarchive_project(project_key: ProjectKey) -> dict[str, Any]:
        """Make an archived project writable again (undoes archive_project)."""
        return await lifecycle.unarchive_project(project_key)

    @agent_mail_tool(mcp, read_only=False, destructive=True, acts_as="agent_name", output=out.HARD_DELETE)
    async def hard_delete_agent(
        project_key: ProjectKey, agent_name: AgentName, confirmation: Confirmation = None
    ) -> dict[str, Any]:
        """Erase an agent with its mail, reservations and links, from database and archive.
        Irreversible; prefer deregister_agent."""
        return await hard_delete.hard_delete_agent(project_key, agent_name, confirmation)

    @agent_mail_tool(mcp, read_only=False, destructive=True, project_admin=True, output=out.HARD_DELETE)
    async def hard_delete_project(project_key: ProjectKey, confirmation: Confirmation = None) -> dict[str, Any]:
        """Erase a project and everything in it, from database and archive. Irreversible; prefer
        archive_project."""
        return await hard_delete.hard_delete_project(project_key, confirmation)

    @agent_mail_tool(mcp, read_only=False, destructive=True, project_admin=True, output=out.PURGE)
    async def purge_old_messages(
        project_key: ProjectKey,
        max_age_days: Annotated[int | None, Field(description="Age in days (default RETENTION_MAX_AGE_DAYS).")] = None,
        dry_run: Annotated[bool, Field(description="Only report what would go.")] = True,
        confirmation: Annotated[str | None, Field(description='With dry_run=false: "I UNDERSTAND".')] = None,
    ) -> dict[str, Any]:
        """Delete a project's messages older than max_age_days, archive files too. Dry run unless
        dry_run=false with confirmation."""
        return await hard_delete.purge_old_messages(project_key, max_age_days, dry_run, confirmation)
