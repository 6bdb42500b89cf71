"""Tools installing and removing the Git guard that keeps commits off files other agents reserved."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services.reservations import guard
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.params import ProjectKey

OptionalProjectKey = str | None
RepoPath = Annotated[str, Field(description="Git work tree path.")]


def register(mcp: FastMCP) -> None:
    """Add the guard tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True, output=out.GUARD_INSTALL)
    async def install_precommit_guard(project_key: ProjectKey, code_repo_path: RepoPath) -> dict[str, Any]:
        """Install a Git pre-commit hook refusing commits on files other agents reserved. Committers set
        AGENT_NAME so their own reservations pass."""
        return await guard.install_precommit_guard(project_key, code_repo_path)

    @agent_mail_tool(mcp, read_only=False, idempotent=True, project_admin=True, output=out.GUARD_UNINSTALL)
    async def uninstall_precommit_guard(
        code_repo_path: RepoPath, project_key: OptionalProjectKey = None
    ) -> dict[str, Any]:
        """Remove the project's guard hooks from a repo, restoring any chained hook. Strict mode needs
        project_key and proof."""
        return await guard.uninstall_for_project(project_key, code_repo_path)
