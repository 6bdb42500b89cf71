"""Tools for projects and identities: health_check, ensure_project, register_agent, ..."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.server.dependencies import get_context
from pydantic import Field

from mcp_agent_mail.services import health
from mcp_agent_mail.services.identity import agents, projects
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool, current_session_key
from mcp_agent_mail.tools.params import HumanKey, Me, Model, Program, ProjectKey, Task

Policy = Annotated[str | None, Field(json_schema_extra={"enum": ["auto", "inline", "file"]})]


def _transport() -> str | None:
    """Return how the current call reached the server ("stdio", "streamable-http", ...), or None if unknown."""
    try:
        return get_context().transport
    except RuntimeError:  # the HTTP fast path answers without an MCP context
        return None


def register(mcp: FastMCP) -> None:
    """Add the identity tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=True, idempotent=True, output=out.HEALTH)
    async def health_check() -> dict[str, Any]:
        """Check the server, its database and archive writer. Use when calls fail oddly."""
        return await health.health_check(transport=_transport())

    @agent_mail_tool(mcp, read_only=False, idempotent=True, output=out.PROJECT)
    async def ensure_project(human_key: HumanKey) -> dict[str, Any]:
        """Create or get a repo's project; call it first. Other tools take its path or slug as project_key."""
        return await projects.ensure_project(human_key)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, output=out.AGENT)
    async def register_agent(
        project_key: ProjectKey,
        program: Program,
        model: Model,
        name: Annotated[str | None, Field(description="Omit for a new name.")] = None,
        task_description: str | None = None,
        attachments_policy: Policy = None,
        registration_token: str | None = None,
    ) -> dict[str, Any]:
        """Register in a project, or update your agent's given fields. A new agent gets its registration_token
        once: keep it, it proves who you are."""
        return await agents.register_agent(
            project_key,
            program,
            model,
            name,
            task_description,
            attachments_policy,
            registration_token=registration_token,
            session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False, output=out.AGENT)
    async def create_agent_identity(
        project_key: ProjectKey,
        program: Program,
        model: Model,
        name_hint: str | None = None,
        task_description: Task = "",
        attachments_policy: str = "auto",
    ) -> dict[str, Any]:
        """New agent with a fresh name; keep the registration_token returned once."""
        return await agents.create_agent_identity(
            project_key,
            program,
            model,
            name_hint,
            task_description,
            attachments_policy,
            session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=True, idempotent=True, output=out.WHOIS)
    async def whois(
        project_key: ProjectKey,
        agent_name: Annotated[str, Field(description="Agent to look up.")],
        include_recent_commits: bool = True,
        commit_limit: Annotated[int, Field(ge=1, le=50)] = 5,
        registration_token: str | None = None,
    ) -> dict[str, Any]:
        """An agent's profile (program, model, task, last activity) and recent archive commits."""
        return await agents.whois(
            project_key,
            agent_name,
            include_recent_commits=include_recent_commits,
            commit_limit=commit_limit,
            registration_token=registration_token,
            session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name", output=out.POLICY)
    async def set_contact_policy(
        project_key: ProjectKey,
        agent_name: Me,
        policy: str,
    ) -> dict[str, Any]:
        """Set who may mail you: open, auto (default: same project, shared threads or reservations,
        contacts), contacts_only (approved contacts) or block_all."""
        return await agents.set_contact_policy(project_key, agent_name, policy)
