"""What a retirement or an archiving would touch, read for the confirmation page without changing anything."""

from __future__ import annotations

import pytest

from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent
from mcp_agent_mail.services.identity.lifecycle_facts import agent_lifecycle_facts, project_lifecycle_facts
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.reservations.leases import reserve_paths

PROJECT = "/nowhere/facts-project"


@pytest.fixture
async def project(isolated_env) -> str:
    slug = (await ensure_project(PROJECT))["slug"]
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "pytest", "m", name=name)
    await reserve_paths(PROJECT, "BlueLake", ["src/**", "docs/*.md"])
    return slug


async def test_agent_facts_list_the_leases_a_retirement_would_release(project):
    facts = await agent_lifecycle_facts(project, "bluelake")
    assert facts["agent_name"] == "BlueLake" and facts["project_key"] == PROJECT
    assert facts["retired_at"] is None and facts["active_reservations"] == 2
    assert [r["path_pattern"] for r in facts["reservations_shown"]] == ["src/**", "docs/*.md"]
    await retire_agent(PROJECT, "BlueLake")
    facts = await agent_lifecycle_facts(project, "BlueLake")
    assert facts["retired_at"] is not None and facts["active_reservations"] == 0


async def test_project_facts_count_agents_and_active_leases(project):
    await retire_agent(PROJECT, "RedFox")
    facts = await project_lifecycle_facts(project)
    assert (facts["agents"], facts["retired_agents"], facts["active_reservations"]) == (2, 1, 2)
    assert facts["archived_at"] is None
    await archive_project(PROJECT)
    assert (await project_lifecycle_facts(PROJECT))["archived_at"] is not None


async def test_unknown_names_are_not_found(project):
    with pytest.raises(NotFoundError):
        await agent_lifecycle_facts(project, "GhostOwl")
    with pytest.raises(NotFoundError):
        await project_lifecycle_facts("no-such-project")
