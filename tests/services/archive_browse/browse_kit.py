"""Helpers for archive-browsing tests: a project with agents, mail sent through the services, a flushed archive."""

from __future__ import annotations

from typing import Any

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message

PROJECT = "/work/browse-demo"


async def make_project() -> str:
    """Create the project with BlueLake and RedFox; return its slug."""
    slug = (await ensure_project(PROJECT))["slug"]
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "pytest", "test-model", name=name)
    return str(slug)


async def send_and_flush(subject: str, body: str = "Body text.", **extra: Any) -> int:
    """Send BlueLake -> RedFox, write the archive, and return the message id."""
    result = await send_message(PROJECT, "BlueLake", ["RedFox"], subject, body, **extra)
    flush_pending(get_settings())
    return int(result["deliveries"][0]["payload"]["id"])
