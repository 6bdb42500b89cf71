"""The wait_for_mail tool: block until new mail arrives (for clients without resource subscriptions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services.mail import waiting
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.outputs import ARR
from mcp_agent_mail.tools.params import Me, ProjectKey, SinceTs
from mcp_agent_mail.tools.schemas import B, root

WAIT = root(messages=ARR, timed_out=B)


def register(mcp: FastMCP) -> None:
    """Add wait_for_mail to ``mcp``."""

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name", output=WAIT)
    async def wait_for_mail(
        project_key: ProjectKey,
        agent_name: Me,
        timeout_seconds: Annotated[float, Field(description="0-300.")] = 60,
        since_ts: SinceTs = None,
    ) -> dict[str, Any]:
        """Wait for new mail (newer than since_ts, default now): messages as fetch_inbox, or timed_out."""
        return await waiting.wait_for_mail(project_key, agent_name, timeout_seconds, since_ts)
