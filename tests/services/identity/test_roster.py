"""A project's roster and one agent's standing: who is there, and whether an agent may still act or only read."""

from __future__ import annotations

import pytest

from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.identity.agents import create_agent_identity
from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent, unarchive_project
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.identity.roster import agent_standing, agents_directory, project_with_agents

PROJECT = "/work/roster-service"


@pytest.fixture
async def project(isolated_env) -> str:
    """A project with BlueLake and RedFox; returns its slug."""
    created = await ensure_project(PROJECT)
    for name in ("RedFox", "BlueLake"):
        await create_agent_identity(PROJECT, "p", "m", name_hint=name)
    return str(created["slug"])


async def test_project_with_agents_lists_everyone_by_name_retired_included(project):
    await retire_agent(PROJECT, "RedFox")
    shown = await project_with_agents(project)
    assert shown["human_key"] == PROJECT and [a["name"] for a in shown["agents"]] == ["BlueLake", "RedFox"]
    assert "retired_at" in shown["agents"][1] and "retired_at" not in shown["agents"][0]
    assert all("registration_token_hash" not in a for a in shown["agents"])


async def test_agents_directory_keeps_retired_agents_apart(project):
    await retire_agent(PROJECT, "RedFox")
    directory = await agents_directory(PROJECT)
    assert directory["project"] == {"slug": project, "human_key": PROJECT}
    assert [(a["name"], a["unread_count"]) for a in directory["agents"]] == [("BlueLake", 0)]
    assert [a["name"] for a in directory["retired_agents"]] == ["RedFox"]


async def test_standing_of_an_active_agent_has_no_read_only_reason(project):
    standing = await agent_standing(project, "bluelake")
    assert standing == {"project": PROJECT, "agent": "BlueLake", "read_only_reason": None}


async def test_standing_says_why_an_agent_may_only_read(project):
    await archive_project(PROJECT)
    assert (await agent_standing(PROJECT, "BlueLake"))["read_only_reason"] == "project archived"
    await unarchive_project(PROJECT)
    await retire_agent(PROJECT, "BlueLake")
    assert (await agent_standing(PROJECT, "BlueLake"))["read_only_reason"] == "agent retired"


async def test_standing_of_an_unknown_agent_or_project_is_not_found(project):
    with pytest.raises(NotFoundError, match="Agent 'Nobody' not found") as caught:
        await agent_standing(PROJECT, "Nobody")
    assert caught.value.hint and "BlueLake" in caught.value.hint
    with pytest.raises(NotFoundError, match="Project 'nowhere' not found"):
        await agent_standing("nowhere", "BlueLake")
