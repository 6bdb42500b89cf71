"""The projects index and a project's page: agents, threads and the search box."""

from __future__ import annotations

import re

import pytest
from web_kit import PROJECT, web_client

from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.identity.projects import ensure_project


async def test_the_projects_index_lists_projects_with_counts(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get("/mail/projects")
    assert page.status_code == 200
    assert "2 projects" in page.text
    row = re.search(rf'<a href="/mail/projects/{web_mailbox.slug}">.*?</tr>', page.text, re.S)
    assert row is not None
    cells = re.findall(r"<td>(\d+)</td>", row.group(0))
    assert cells == ["3", "4"]  # three agents, four messages stored in the project
    assert PROJECT in row.group(0)


async def test_the_projects_index_is_paged(local_app, web_mailbox):
    for n in range(51):
        await ensure_project(f"/work/web-many-{n:02d}")
    async with web_client(local_app) as client:
        first = await client.get("/mail/projects")
        second = await client.get("/mail/projects?page=2")
    assert first.text.count('<tr>\n      <td><a href="/mail/projects/') == 50
    assert 'href="/mail/projects?page=2"' in first.text
    assert second.text.count('<tr>\n      <td><a href="/mail/projects/') == 3


async def test_a_project_page_shows_agents_threads_and_a_search_box(local_app, web_mailbox):
    await register_agent(PROJECT, "codex", "gpt-x", name="OrangeStone")
    await retire_agent(PROJECT, "OrangeStone")
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}")
    html = page.text
    assert page.status_code == 200
    assert '<h2 id="agents-heading">Agents <span class="muted">(4)</span></h2>' in html
    assert "BlueLake" in html and "pytest" in html and "test-model" in html
    assert re.search(r"OrangeStone <span class=\"badge retired\">retired</span>", html)
    assert f'href="/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox"' in html
    assert f'action="/mail/projects/{web_mailbox.slug}/search"' in html
    assert '<label for="project-search">' in html
    first = web_mailbox.ids["Plan for the parser"]
    thread_row = re.search(
        rf'href="/mail/projects/{web_mailbox.slug}/threads/{first}">Plan for the parser</a></td>\s*<td>2</td>', html
    )
    assert thread_row is not None  # the plan and its reply form one thread of two messages
    assert html.index("Quiet note") < html.index("Plan for the parser")  # most recent thread first


async def test_a_project_is_found_by_its_slug_and_a_missing_one_is_a_404(local_app, web_mailbox):
    async with web_client(local_app) as client:
        found = await client.get(f"/mail/projects/{web_mailbox.slug.upper()}")
        missing = await client.get("/mail/projects/no-such-project")
    assert found.status_code == 200
    assert missing.status_code == 404
    assert "Project &#39;no-such-project&#39; not found." in missing.text  # escaped, as every value is


@pytest.mark.parametrize("query", ["page=0", "page=-1", "agents_page=x"])
async def test_bad_paging_on_a_project_is_a_400(local_app, web_mailbox, query):
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}?{query}")
    assert page.status_code == 400
