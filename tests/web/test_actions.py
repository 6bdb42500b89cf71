"""Operator actions in the web UI: each confirmation page, the POST that acts, the report, and every refusal.

Everything runs through the real HTTP app (ASGI client) on a real database and Git archive; the effects
are checked the way an agent or an auditor would see them (MCP tools, search, the archive's HEAD tree).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from dulwich.repo import Repo
from fastmcp import Client
from fastmcp.exceptions import ToolError
from web_kit import PROJECT, WebMailbox, csrf_from, web_client

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.db import schema, sync_write_connection
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent
from mcp_agent_mail.services.mail.inbox import fetch_inbox
from mcp_agent_mail.services.reservations.leases import reserve_paths
from mcp_agent_mail.timeutil import utcnow

JWT_SECRET = "web-actions-jwt-secret-" + "0123456789abcdef" * 3


def age_agent(name: str, hours: int = 3) -> None:
    """Make an agent look idle for ``hours``."""
    a = schema.agents
    with sync_write_connection() as conn:
        conn.execute(a.update().where(a.c.name == name).values(last_active_ts=utcnow() - timedelta(hours=hours)))


def state(box: WebMailbox) -> dict[str, list[tuple[Any, ...]]]:
    """Every row an action may change, and the archive's queue: equal before and after means nothing changed."""
    queries = {
        "projects": "SELECT id, archived_at FROM projects ORDER BY id",
        "agents": "SELECT id, name, retired_at, contact_policy FROM agents ORDER BY id",
        "messages": "SELECT id, subject FROM messages ORDER BY id",
        "recipients": "SELECT message_id, agent_id, read_ts, ack_ts FROM message_recipients ORDER BY 1, 2",
        "reservations": "SELECT id, released_ts, expires_ts FROM file_reservations ORDER BY id",
        "outbox": "SELECT count(*) FROM archive_outbox",
    }
    found = {name: box.rows(sql) for name, sql in queries.items()}
    return {**found, "search index": [(db_kit.search_index_size(),)]}


def head_paths(storage: Path) -> set[str]:
    """Every file in the archive's HEAD commit."""
    repo = Repo(str(storage))
    try:
        tree = repo[repo.head()].tree  # type: ignore[attr-defined]
        return {entry.path.decode() for entry in repo.object_store.iter_tree_contents(tree)}
    finally:
        repo.close()


async def flushed() -> None:
    await asyncio.to_thread(flush_pending)


def text_of(html: str) -> str:
    """The page's visible text with tags removed and whitespace collapsed (entities left as they are)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def token_for(client: Any, box: WebMailbox) -> str:
    """Return the CSRF token of this client's browser (read from a confirmation page that always has a form)."""
    page = await client.get(f"/mail/projects/{box.slug}/agents/BlueLake/retire/confirm")
    return csrf_from(page.text)


async def page_and_token(client: Any, path: str, **params: Any) -> tuple[str, str]:
    """GET a confirmation page (it must be a 200 with a form) and return its text and CSRF token."""
    page = await client.get(path, params=params)
    assert page.status_code == 200, page.text
    return text_of(page.text), csrf_from(page.text)


@pytest.fixture
async def idle_lease(web_mailbox: WebMailbox) -> int:
    """A lease on src/** held by GoldHawk, who has been idle for three hours and has no mail."""
    await register_agent(PROJECT, "pytest", "m", name="GoldHawk")
    granted = await reserve_paths(PROJECT, "GoldHawk", ["src/**"], reason="refactor")
    age_agent("GoldHawk")
    return int(granted["granted"][0]["id"])


# ---------------------------------------------------------------------------- retire and unretire


async def test_retiring_an_agent_releases_its_leases_and_stops_its_mail(local_app, web_mailbox):
    slug = web_mailbox.slug
    await reserve_paths(PROJECT, "GreenCastle", ["docs/**"])
    async with web_client(local_app) as client:
        text, token = await page_and_token(client, f"/mail/projects/{slug}/agents/greencastle/retire/confirm")
        assert f"Retire GreenCastle in {PROJECT}: it keeps its mail but can no longer send or receive mail" in text
        assert "Its 1 active reservation will be released." in text and "docs/**" in text
        assert "Cancel" in text
        assert web_mailbox.rows("SELECT retired_at FROM agents WHERE name = 'GreenCastle'") == [(None,)]

        done = await client.post(f"/mail/projects/{slug}/agents/GreenCastle/retire", data={"csrf_token": token})

    assert done.status_code == 200
    assert "Retired GreenCastle in /work/web-alpha" in text_of(done.text)
    assert "Released its 1 active reservation." in text_of(done.text)
    assert web_mailbox.rows("SELECT retired_at IS NOT NULL FROM agents WHERE name = 'GreenCastle'") == [(1,)]
    assert web_mailbox.rows("SELECT count(*) FROM file_reservations WHERE released_ts IS NULL") == [(0,)]
    async with Client(build_mcp_server()) as mcp:
        with pytest.raises(ToolError, match="AGENT_RETIRED"):
            await mcp.call_tool(
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": "GreenCastle",
                    "to": ["RedFox"],
                    "subject": "Still here?",
                    "body_md": "b",
                },
            )


async def test_retiring_twice_reports_that_nothing_changed(local_app, web_mailbox):
    await retire_agent(PROJECT, "RedFox")
    slug = web_mailbox.slug
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{slug}/agents/RedFox/retire/confirm")
        assert (
            page.status_code == 200 and "nothing to do" in page.text and '<form method="post" action' not in page.text
        )
        token = await token_for(client, web_mailbox)
        before = state(web_mailbox)
        done = await client.post(f"/mail/projects/{slug}/agents/RedFox/retire", data={"csrf_token": token})
    assert "RedFox was already retired" in done.text and "nothing changed" in done.text
    assert state(web_mailbox)["agents"] == before["agents"]


async def test_unretiring_brings_the_agent_back(local_app, web_mailbox):
    await retire_agent(PROJECT, "RedFox")
    slug = web_mailbox.slug
    async with web_client(local_app) as client:
        text, token = await page_and_token(client, f"/mail/projects/{slug}/agents/RedFox/unretire/confirm")
        assert f"Bring RedFox in {PROJECT} back into service" in text
        done = await client.post(f"/mail/projects/{slug}/agents/RedFox/unretire", data={"csrf_token": token})
    assert done.status_code == 200 and "RedFox in /work/web-alpha is back in service" in text_of(done.text)
    assert web_mailbox.rows("SELECT retired_at FROM agents WHERE name = 'RedFox'") == [(None,)]
    async with Client(build_mcp_server()) as mcp:
        sent = await mcp.call_tool(
            "send_message",
            {"project_key": PROJECT, "sender_name": "RedFox", "to": ["BlueLake"], "subject": "Back", "body_md": "b"},
        )
    assert sent.data["deliveries"]


# ---------------------------------------------------------------------------- archive and unarchive


async def test_archiving_a_project_stops_new_mail_and_unarchiving_restores_it(local_app, web_mailbox):
    slug = web_mailbox.slug
    send = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "Hi", "body_md": "b"}
    async with web_client(local_app) as client:
        text, token = await page_and_token(client, f"/mail/projects/{slug}/archive/confirm")
        assert f"Archive {PROJECT}: it keeps its agents, mail and history, but accepts no new mail" in text
        assert "3 active agents will only be able to read" in text
        done = await client.post(f"/mail/projects/{slug}/archive", data={"csrf_token": token})
        assert done.status_code == 200 and f"Archived {PROJECT} at" in text_of(done.text)
        async with Client(build_mcp_server()) as mcp:
            with pytest.raises(ToolError, match="PROJECT_ARCHIVED"):
                await mcp.call_tool("send_message", send)

        text, token = await page_and_token(client, f"/mail/projects/{slug}/unarchive/confirm")
        assert f"Make {PROJECT} writable again" in text
        done = await client.post(f"/mail/projects/{slug}/unarchive", data={"csrf_token": token})
    assert done.status_code == 200 and f"{PROJECT} is writable again." in text_of(done.text)
    assert web_mailbox.rows("SELECT archived_at FROM projects WHERE human_key = :key", key=PROJECT) == [(None,)]
    async with Client(build_mcp_server()) as mcp:
        assert (await mcp.call_tool("send_message", send)).data["deliveries"]


# ---------------------------------------------------------------------------- stale reservations


async def test_a_stale_lease_is_released_with_the_reasons_and_its_holder_is_mailed(local_app, web_mailbox, idle_lease):
    slug = web_mailbox.slug
    path = f"/mail/projects/{slug}/reservations/{idle_lease}/release"
    async with web_client(local_app) as client:
        text, token = await page_and_token(client, f"{path}/confirm")
        assert f"Release the reservation #{idle_lease} on src/** held by GoldHawk in {PROJECT} now" in text
        assert "the holder has done nothing for over 30 min" in text
        assert "Note to the holder" in text
        done = await client.post(path, data={"csrf_token": token, "note": "Hotfix needs src/."})

    shown = text_of(done.text)
    assert done.status_code == 200
    assert (
        f"Released reservation #{idle_lease} on src/** held by GoldHawk (last active 3 h ago, no mail found)." in shown
    )
    assert "GoldHawk was told by mail from HumanOverseer" in shown
    released = "SELECT released_ts IS NOT NULL FROM file_reservations WHERE id = :id"
    assert web_mailbox.rows(released, id=idle_lease) == [(1,)]
    (notice,) = await fetch_inbox(PROJECT, "GoldHawk", include_bodies=True)
    assert notice["from"] == "HumanOverseer" and "Hotfix needs src/." in notice["body_md"]


async def test_a_lease_whose_holder_may_be_working_is_not_released(local_app, web_mailbox):
    granted = await reserve_paths(PROJECT, "RedFox", ["src/**"])
    rid = int(granted["granted"][0]["id"])
    slug = web_mailbox.slug
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{slug}/reservations/{rid}/release/confirm")
        assert page.status_code == 200
        assert "RedFox may still be working on it" in page.text and 'class="danger"' not in page.text
        assert "the holder was active within the inactivity limit" in page.text
        before = state(web_mailbox)
        refused = await client.post(
            f"/mail/projects/{slug}/reservations/{rid}/release",
            data={"csrf_token": await token_for(client, web_mailbox)},
        )
    assert refused.status_code == 409
    assert "agent_recently_active" in refused.text and "nothing was released" in refused.text
    assert state(web_mailbox) == before  # no release, no overseer identity, no mail


# ---------------------------------------------------------------------------- deleting messages


async def test_deleted_messages_leave_the_database_the_tools_search_and_the_archive(
    local_app, web_mailbox, isolated_env
):
    storage = isolated_env["storage"]
    plan, blocker = web_mailbox.ids["Plan for the parser"], web_mailbox.ids["Release blocker"]
    elsewhere = web_mailbox.ids["Elsewhere note"]
    await flushed()
    assert any(p.endswith(f"__{blocker}.md") for p in head_paths(storage))
    slug = web_mailbox.slug
    async with web_client(local_app) as client:
        text, token = await page_and_token(
            client,
            f"/mail/projects/{slug}/messages/delete/confirm",
            message_ids=[str(plan), f"{blocker},{elsewhere}"],
        )
        assert f"Delete 2 messages from {PROJECT}" in text and "This cannot be undone." in text
        assert f"1 id not in this project will be left alone: {elsewhere}." in text
        assert "Release blocker" in text
        done = await client.post(
            f"/mail/projects/{slug}/messages/delete",
            data={"csrf_token": token, "message_ids": [str(plan), str(blocker), str(elsewhere)]},
        )

    assert done.status_code == 200
    assert "Deleted 2 messages (database and archive); 1 id was not in this project." in text_of(done.text)
    assert web_mailbox.rows("SELECT id FROM messages ORDER BY id") == [
        (i,) for i in sorted(set(web_mailbox.ids.values()) - {plan, blocker})
    ]
    gone = "SELECT count(*) FROM message_recipients WHERE message_id IN (:a, :b)"
    assert web_mailbox.rows(gone, a=plan, b=blocker) == [(0,)]
    async with Client(build_mcp_server()) as mcp:
        inbox = (await mcp.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"})).data
        hits = (await mcp.call_tool("search_messages", {"project_key": PROJECT, "query": "blocker"})).data
    assert {item["id"] for item in inbox}.isdisjoint({plan, blocker})
    assert hits == []
    await flushed()
    remaining = head_paths(storage)
    assert not [p for p in remaining if p.endswith((f"__{plan}.md", f"__{blocker}.md"))]
    assert [p for p in remaining if p.endswith(f"__{elsewhere}.md")]


# ---------------------------------------------------------------------------- refusals change nothing


def _posts(box: WebMailbox, lease: int) -> list[tuple[str, dict[str, Any]]]:
    slug, mid = box.slug, box.ids["Quiet note"]
    return [
        (f"/mail/projects/{slug}/agents/RedFox/retire", {}),
        (f"/mail/projects/{slug}/agents/RedFox/unretire", {}),
        (f"/mail/projects/{slug}/archive", {}),
        (f"/mail/projects/{slug}/unarchive", {}),
        (f"/mail/projects/{slug}/reservations/{lease}/release", {}),
        (f"/mail/projects/{slug}/messages/delete", {"message_ids": [str(mid)]}),
    ]


async def test_a_post_without_the_csrf_token_changes_nothing(local_app, web_mailbox, idle_lease):
    await retire_agent(PROJECT, "GreenCastle")  # so that unretire would have something to do
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        for path, data in _posts(web_mailbox, idle_lease):
            for token in (None, "forged-token"):
                sent = dict(data) if token is None else {**data, "csrf_token": token}
                refused = await client.post(path, data=sent)
                assert refused.status_code == 403, path
                assert "security token" in refused.text
    assert state(web_mailbox) == before


async def test_a_post_from_another_site_changes_nothing(local_app, web_mailbox, idle_lease):
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        token = await token_for(client, web_mailbox)
        for path, data in _posts(web_mailbox, idle_lease):
            refused = await client.post(
                path, data={**data, "csrf_token": token}, headers={"Origin": "http://evil.example"}
            )
            assert refused.status_code == 403, path
    assert state(web_mailbox) == before


async def test_a_reader_sees_no_confirmation_and_cannot_act(make_web_app, web_mailbox, idle_lease):
    app = make_web_app(HTTP_JWT_ENABLED="1", HTTP_JWT_SECRET=JWT_SECRET, HTTP_RBAC_ENABLED="1")
    reader = jwt.encode(
        {"sub": "auditor", "role": "reader", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256"
    )
    before = state(web_mailbox)
    async with web_client(app, token=reader) as client:
        slug = web_mailbox.slug
        confirm = await client.get(f"/mail/projects/{slug}/agents/RedFox/retire/confirm")
        assert confirm.status_code == 403 and "writer role" in confirm.text
        for path, data in _posts(web_mailbox, idle_lease):
            refused = await client.post(path, data=data)
            assert refused.status_code == 403, path
            assert "writer role" in refused.text
    assert state(web_mailbox) == before


async def test_actions_are_post_only(local_app, web_mailbox, idle_lease):
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        for path, data in _posts(web_mailbox, idle_lease):
            answer = await client.get(path, params=data)
            assert answer.status_code in (400, 404, 405), path  # never an action
    assert state(web_mailbox) == before


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/mail/projects/no-such-project/agents/RedFox/retire", 404, "not found"),
        ("/mail/projects/{slug}/agents/GhostOwl/retire", 404, "GhostOwl"),
        ("/mail/projects/{slug}/agents/GhostOwl/unretire", 404, "GhostOwl"),
        ("/mail/projects/no-such-project/archive", 404, "not found"),
        ("/mail/projects/no-such-project/unarchive", 404, "not found"),
        ("/mail/projects/{slug}/reservations/999999/release", 404, "999999"),
        ("/mail/projects/{slug}/reservations/abc/release", 400, "must be a number"),
        ("/mail/projects/{slug}/reservations/0/release", 400, "not a reservation id"),
    ],
)
async def test_unknown_things_are_404_and_bad_ids_400_and_nothing_changes(local_app, web_mailbox, path, status, says):
    path = path.format(slug=web_mailbox.slug)
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        token = await token_for(client, web_mailbox)
        refused = await client.post(path, data={"csrf_token": token})
        confirm = await client.get(f"{path}/confirm")
    assert refused.status_code == status and says in refused.text
    assert confirm.status_code == status
    assert state(web_mailbox) == before


@pytest.mark.parametrize(
    ("ids", "status", "says"),
    [
        ([], 400, "No message was chosen"),
        (["abc"], 400, "&#39;abc&#39; is not a message id"),
        (["12;DROP"], 400, "is not a message id"),
        (["-4"], 400, "is not a message id"),
        ([" ".join(str(i) for i in range(1, 502))], 400, "at most 500"),
        (["999999"], 404, "999999"),
    ],
)
async def test_bad_or_unknown_message_ids_are_refused_and_nothing_changes(
    local_app, web_mailbox, isolated_env, ids, status, says
):
    slug = web_mailbox.slug
    await flushed()
    tree = head_paths(isolated_env["storage"])
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        token = await token_for(client, web_mailbox)
        refused = await client.post(
            f"/mail/projects/{slug}/messages/delete", data={"csrf_token": token, "message_ids": ids}
        )
        confirm = await client.get(f"/mail/projects/{slug}/messages/delete/confirm", params={"message_ids": ids})
    assert refused.status_code == status and says in refused.text
    assert confirm.status_code == status
    assert state(web_mailbox) == before
    await flushed()
    assert head_paths(isolated_env["storage"]) == tree


async def test_messages_of_another_project_cannot_be_deleted_from_this_one(local_app, web_mailbox):
    before = state(web_mailbox)
    theirs = web_mailbox.ids["Elsewhere note"]
    async with web_client(local_app) as client:
        token = await token_for(client, web_mailbox)
        refused = await client.post(
            f"/mail/projects/{web_mailbox.slug}/messages/delete",
            data={"csrf_token": token, "message_ids": [str(theirs)]},
        )
    assert refused.status_code == 404
    assert state(web_mailbox) == before


async def test_an_archived_project_keeps_its_leases(local_app, web_mailbox, idle_lease):
    await archive_project(PROJECT)
    before = state(web_mailbox)
    path = f"/mail/projects/{web_mailbox.slug}/reservations/{idle_lease}/release"
    async with web_client(local_app) as client:
        confirm = await client.get(f"{path}/confirm")
        assert confirm.status_code == 200 and "The project is archived" in confirm.text
        refused = await client.post(path, data={"csrf_token": await token_for(client, web_mailbox)})
    assert refused.status_code == 409 and "archived" in refused.text
    assert state(web_mailbox) == before


async def test_cancel_and_back_return_to_a_local_page_only(local_app, web_mailbox):
    slug = web_mailbox.slug
    async with web_client(local_app) as client:
        mine = await client.get(
            f"/mail/projects/{slug}/agents/RedFox/retire/confirm",
            params={"next": f"/mail/projects/{slug}/agents/RedFox/inbox"},
        )
        theirs = await client.get(
            f"/mail/projects/{slug}/agents/RedFox/retire/confirm", params={"next": "https://evil.example/"}
        )
    assert f'href="/mail/projects/{slug}/agents/RedFox/inbox">Cancel' in mine.text
    assert "evil.example" not in theirs.text and f'href="/mail/projects/{slug}">Cancel' in theirs.text


async def test_an_expired_lease_is_only_recorded_as_released(local_app, web_mailbox):
    granted = await reserve_paths(PROJECT, "RedFox", ["lib/**"])
    rid = int(granted["granted"][0]["id"])
    fr = schema.file_reservations
    with sync_write_connection() as conn:
        conn.execute(fr.update().where(fr.c.id == rid).values(expires_ts=utcnow() - timedelta(minutes=5)))
    path = f"/mail/projects/{web_mailbox.slug}/reservations/{rid}/release"
    async with web_client(local_app) as client:
        text, token = await page_and_token(client, f"{path}/confirm")
        assert "expired at" in text and "releasing it only records that" in text
        done = await client.post(path, data={"csrf_token": token})
    assert done.status_code == 200 and "had expired; it is now recorded as released" in text_of(done.text)
    assert web_mailbox.rows("SELECT released_ts IS NOT NULL FROM file_reservations WHERE id = :id", id=rid) == [(1,)]
    assert web_mailbox.rows("SELECT count(*) FROM agents WHERE name = 'HumanOverseer'") == [(1,)]
