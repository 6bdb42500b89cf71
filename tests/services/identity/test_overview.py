"""Overviews of projects and of a project's agents, page by page."""

from __future__ import annotations

import pytest

from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.identity.overview import Page, check_page, project_overview, projects_overview
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message

PROJECT = "/work/overview-service"


@pytest.fixture
async def slug(isolated_env) -> str:
    """A project with three agents (OrangeStone retired) and two messages; returns its slug."""
    created = await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox", "OrangeStone"):
        await register_agent(PROJECT, "codex", "gpt-x", name=name)
    await retire_agent(PROJECT, "OrangeStone")
    await send_message(PROJECT, "BlueLake", ["RedFox"], "One", "x")
    await send_message(PROJECT, "RedFox", ["BlueLake"], "Two", "y")
    await ensure_project("/work/overview-empty")
    return str(created["slug"])


async def test_projects_come_with_agent_and_message_counts(slug):
    shown = await projects_overview(Page(1, 10))
    assert shown["total"] == 2 and shown["has_more"] is False
    first, empty = shown["projects"]
    assert first["slug"] == slug and first["agent_count"] == 3 and first["message_count"] == 2
    assert first["last_message_ts"] is not None and first["last_active_ts"] is not None
    assert empty["agent_count"] == 0 and empty["message_count"] == 0 and empty["last_message_ts"] is None


async def test_projects_are_paged(slug):
    first = await projects_overview(Page(1, 1))
    second = await projects_overview(Page(2, 1))
    assert first["has_more"] is True and second["has_more"] is False
    assert [p["slug"] for p in first["projects"] + second["projects"]] == [slug, "work-overview-empty"]


async def test_a_project_lists_active_agents_first_with_unread_counts(slug):
    shown = await project_overview(slug, Page(1, 10))
    names = [agent["name"] for agent in shown["agents"]]
    assert names[-1] == "OrangeStone" and "retired_at" in shown["agents"][-1]
    assert set(names[:2]) == {"BlueLake", "RedFox"}
    unread = {agent["name"]: agent["unread_count"] for agent in shown["agents"]}
    assert unread == {"BlueLake": 1, "RedFox": 1, "OrangeStone": 0}
    assert shown["agents"][0]["program"] == "codex" and shown["agents"][0]["model"] == "gpt-x"
    assert shown["total"] == 3


async def test_a_project_s_agents_are_paged_and_an_unknown_project_is_not_found(slug):
    first = await project_overview(slug, Page(1, 2))
    assert len(first["agents"]) == 2 and first["has_more"] is True
    with pytest.raises(NotFoundError):
        await project_overview("no-such-project", Page(1, 2))


@pytest.mark.parametrize(("number", "size"), [(0, 10), (-1, 10), (1, 0), (1, 201)])
def test_check_page_refuses_bad_pages(number, size):
    with pytest.raises(InvalidArgumentError):
        check_page(number, size)
