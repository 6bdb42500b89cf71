"""The archive browser: /mail/archive, /mail/archive/commits/{sha}, /mail/archive/tree and the inbox-at time travel."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from dulwich.refs import HEADREF
from dulwich.repo import Repo
from web_kit import web_client

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.config import get_settings
from wait_kit import wait_until


def _head() -> str:
    repo = Repo(str(get_settings().storage.root))
    try:
        return repo.refs[HEADREF].decode()
    finally:
        repo.close()


async def test_history_lists_commits_and_a_commit_shows_its_diff(web_mailbox, local_app):
    flush_pending(get_settings())
    sha = _head()
    async with web_client(local_app) as client:
        history = await client.get("/mail/archive")
        detail = await client.get(f"/mail/archive/commits/{sha}")
        short = await client.get(f"/mail/archive/commits/{sha[:8]}")
    assert history.status_code == 200 and f"/mail/archive/commits/{sha}" in history.text
    assert detail.status_code == 200 and sha in detail.text and 'class="diff-add"' in detail.text
    assert short.status_code == 200 and sha in short.text


@pytest.mark.parametrize("sha", ["xyz", "123", "not-a-sha-at-all", "a" * 41, "%3Cscript%3E"])
async def test_malformed_commit_ids_get_a_400_page(web_mailbox, local_app, sha):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/archive/commits/{sha}")
    assert response.status_code == 400 and "<script>" not in response.text


async def test_unknown_commits_get_a_404_page(web_mailbox, local_app):
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        response = await client.get("/mail/archive/commits/" + "0" * 40)
    assert response.status_code == 404


async def test_hostile_subjects_in_history_and_files_are_escaped(web_mailbox, local_app):
    flush_pending(get_settings())  # the setup's mail in one commit, the hostile message alone in the next
    await web_mailbox.send("BlueLake", ["RedFox"], "<script>alert(1)</script>")  # thread ids refuse markup
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        history = (await client.get("/mail/archive")).text
        detail = (await client.get(f"/mail/archive/commits/{_head()}")).text
    for page in (history, detail):
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_the_tree_lists_folders_and_shows_files(web_mailbox, local_app):
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        root = await client.get("/mail/archive/tree")
        project = await client.get("/mail/archive/tree", params={"path": f"projects/{web_mailbox.slug}"})
        profile = await client.get(
            "/mail/archive/tree", params={"path": f"projects/{web_mailbox.slug}/agents/BlueLake/profile.json"}
        )
    assert root.status_code == 200 and "projects/" in root.text
    assert project.status_code == 200 and "agents/" in project.text and "messages/" in project.text
    assert profile.status_code == 200 and "&#34;name&#34;: &#34;BlueLake&#34;" in profile.text


@pytest.mark.parametrize("path", ["/etc/passwd", "../../etc/passwd", "projects/../../x", "a\\b", "projects/./x"])
async def test_path_traversal_gets_a_400_page(web_mailbox, local_app, path):
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        response = await client.get("/mail/archive/tree", params={"path": path})
    assert response.status_code == 400 and "root:" not in response.text


async def test_missing_tree_paths_get_a_404_page(web_mailbox, local_app):
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        response = await client.get("/mail/archive/tree", params={"path": "projects/nothing"})
    assert response.status_code == 404


async def test_time_travel_shows_mail_sent_before_the_time_and_not_after(web_mailbox, local_app):
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        cut_page = (await client.get(f"/mail/archive/commits/{_head()}")).text
    cut = cut_page.split('datetime="')[1].split('"')[0]
    cut_seconds = datetime.fromisoformat(cut).timestamp()
    wait_until(lambda: time.time() >= cut_seconds + 1, timeout=5, message="the clock passes the cut's second")
    await web_mailbox.send("BlueLake", ["RedFox"], "Sent after the cut")
    flush_pending(get_settings())
    url = f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox-at"
    async with web_client(local_app) as client:
        then = await client.get(url, params={"at": cut})
        now = await client.get(url, params={"at": "2999-01-01T00:00"})
        form = await client.get(url)
    assert then.status_code == 200
    assert "Plan for the parser" in then.text and "Release blocker" in then.text
    assert "Sent after the cut" not in then.text
    assert "Sent after the cut" in now.text
    assert form.status_code == 200 and "Choose a time" in form.text


async def test_time_travel_before_any_commit_says_so(web_mailbox, local_app):
    flush_pending(get_settings())
    async with web_client(local_app) as client:
        page = (await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox-at?at=2000-01-01T00:00")).text
    assert "No archive commit was made at or before that time" in page


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-40T99:99", "<script>", "1" * 65])
async def test_time_travel_bad_times_get_a_400_page(web_mailbox, local_app, at):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox-at", params={"at": at})
    assert response.status_code == 400 and "<script>" not in response.text


@pytest.mark.parametrize(("project", "agent"), [("nowhere", "RedFox"), (None, "NoSuchAgent")])
async def test_time_travel_unknown_project_or_agent_gets_a_404_page(web_mailbox, local_app, project, agent):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{project or web_mailbox.slug}/agents/{agent}/inbox-at")
    assert response.status_code == 404


async def test_bad_page_numbers_get_a_400_page(web_mailbox, local_app):
    async with web_client(local_app) as client:
        for url in ("/mail/archive?page=0", "/mail/archive/tree?page=x"):
            assert (await client.get(url)).status_code == 400
