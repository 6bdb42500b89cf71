"""Tools for projects and identities: health_check, ensure_project, register_agent, ..."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import agents, health, projects
from mcp_agent_mail.tools._adapter import agent_mail_tool, current_session_key

ProjectKey = Annotated[str, Field(description="Absolute path of the repository (or the project slug).")]
AgentName = Annotated[str, Field(description="Agent name, e.g. GreenCastle.")]


def register(mcp: FastMCP) -> None:
    """Add the identity tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=True, idempotent=True)
    async def health_check() -> dict[str, Any]:
        """Report whether the server, its database and its archive writer are healthy. Call first when in doubt."""
        return await health.health_check()

    @agent_mail_tool(mcp, read_only=False, idempotent=True)
    async def ensure_project(
        human_key: Annotated[str, Field(description="Absolute path of the repository working directory.")],
    ) -> dict[str, Any]:
        """Create the project for a repository path, or return it if it exists. Do this before registering agents."""
        return await projects.ensure_project(human_key)

    @agent_mail_tool(mcp, read_only=False, idempotent=True)
    async def register_agent(
        project_key: ProjectKey,
        program: Annotated[str, Field(description="Client program, e.g. claude-code or codex.")],
        model: Annotated[str, Field(description="Model name, e.g. opus-4.")],
        name: Annotated[
            str | None, Field(description="Adjective+Noun name (GreenCastle) or id like worker-1; omit to get one.")
        ] = None,
        task_description: Annotated[str | None, Field(description="What this agent is working on.")] = None,
        attachments_policy: Annotated[str | None, Field(description="auto, inline or file.")] = None,
        registration_token: Annotated[
            str | None,
            Field(description="The agent's registration_token; needed to update an existing agent in strict mode."),
        ] = None,
    ) -> dict[str, Any]:
        """Register an agent in a project, or update the given fields of an existing agent with that name.

        Returns the agent profile with created and verified flags. A new agent (or an existing one that had no
        token yet) also gets its registration_token, shown only this once: keep it and pass it as
        registration_token / sender_token to prove you are this agent. Updating an existing agent with a wrong
        token is refused with UNAUTHORIZED.
        """
        return await agents.register_agent(
            project_key, program, model, name, task_description, attachments_policy,
            registration_token=registration_token, session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False)
    async def create_agent_identity(
        project_key: ProjectKey,
        program: Annotated[str, Field(description="Client program, e.g. claude-code.")],
        model: Annotated[str, Field(description="Model name.")],
        name_hint: Annotated[str | None, Field(description="Preferred name; must be valid and unused.")] = None,
        task_description: Annotated[str, Field(description="What this agent is working on.")] = "",
        attachments_policy: Annotated[str, Field(description="auto, inline or file.")] = "auto",
    ) -> dict[str, Any]:
        """Always create a new agent with a fresh memorable name; returns its profile and registration_token.

        The token is shown only once: keep it and pass it as registration_token / sender_token to prove you are
        this agent from another session. This MCP session may act as the new agent without it.
        """
        return await agents.create_agent_identity(
            project_key, program, model, name_hint, task_description, attachments_policy,
            session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=True, idempotent=True)
    async def whois(
        project_key: ProjectKey,
        agent_name: AgentName,
        include_recent_commits: Annotated[bool, Field(description="Add the agent's recent archive commits.")] = True,
        commit_limit: Annotated[int, Field(ge=1, le=50, description="How many commits (1-50).")] = 5,
    ) -> dict[str, Any]:
        """Show any agent's public profile (program, model, task, activity) and its recent archive commits.

        Needs no token and never reveals one.
        """
        profile = await agents.whois(project_key, agent_name)
        if include_recent_commits:
            from mcp_agent_mail.archive import recent_agent_commits

            profile["recent_commits"] = await recent_agent_commits(project_key, profile["name"], commit_limit)
        return profile

    @agent_mail_tool(mcp, read_only=False, idempotent=True, acts_as="agent_name")
    async def set_contact_policy(
        project_key: ProjectKey,
        agent_name: AgentName,
        policy: Annotated[str, Field(description="open, auto, contacts_only or block_all.")],
    ) -> dict[str, Any]:
        """Set who may message this agent: open (anyone), auto (default), contacts_only, block_all."""
        return await agents.set_contact_policy(project_key, agent_name, policy)
