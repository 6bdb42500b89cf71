"""Project resources: every project, one project with its agents, and a project's agent roster."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail.resources._common import json_resource
from mcp_agent_mail.services.identity import roster
from mcp_agent_mail.services.identity.projects import list_projects


def register(mcp: FastMCP) -> None:
    """Register the project resources."""

    @json_resource(
        mcp,
        "resource://projects",
        name="projects",
        description="Every project, oldest first: [{id, slug, human_key, created_at, archived_at?}].",
    )
    async def projects() -> list[dict[str, Any]]:
        return await list_projects()

    @json_resource(
        mcp,
        "resource://tooling/projects",
        name="tooling-projects",
        description="Same as resource://projects (the name clients of the original server read).",
    )
    async def tooling_projects() -> list[dict[str, Any]]:
        return await list_projects()

    @json_resource(
        mcp,
        "resource://project/{slug}",
        name="project",
        description="One project (slug or absolute path, URL-encoded) with all its agents, retired ones included.",
    )
    async def project(slug: str) -> dict[str, Any]:
        return await roster.project_with_agents(slug)

    @json_resource(
        mcp,
        "resource://agents/{project_key}",
        name="agents",
        description="A project's agents, most recently active first, each with unread_count: {project: {slug, "
        "human_key}, agents, retired_agents?}. project_key is the slug or the URL-encoded absolute path.",
    )
    async def agents(project_key: str) -> dict[str, Any]:
        return await roster.agents_directory(project_key)
