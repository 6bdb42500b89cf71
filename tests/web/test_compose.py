"""The overseer in the web UI: compose with a preview, send, reply in a thread, and every refusal.

The app is the real HTTP app (ASGI client) on a real database and Git archive; delivery is checked the
way an agent sees it, through the MCP ``fetch_inbox`` tool on the same mailbox.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastmcp import Client
from web_kit import PROJECT, WebMailbox, csrf_from, web_client
from xss_kit import page_problems

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.mail.overseer import HUMAN_TOPIC, OVERSEER_NAME

JWT_SECRET = "web-compose-jwt-secret-" + "0123456789abcdef" * 3


def state(box: WebMailbox) -> dict[str, Any]:
    """Everything a send could change: messages, recipients, agents and queued archive work."""
    return {
        "messages": box.rows("SELECT id, subject FROM messages ORDER BY id"),
        "recipients": box.rows("SELECT message_id, agent_id, kind FROM message_recipients ORDER BY 1, 2"),
        "agents": box.rows("SELECT id, name FROM agents ORDER BY id"),
        "outbox": box.rows("SELECT count(*) FROM archive_outbox"),
    }


async def inbox_via_mcp(agent: str) -> list[dict[str, Any]]:
    """Return the agent's inbox as the MCP tool shows it (bodies included)."""
    async with Client(build_mcp_server()) as client:
        result = await client.call_tool(
            "fetch_inbox", {"project_key": PROJECT, "agent_name": agent, "include_bodies": True, "limit": 50}
        )
    data = result.structured_content or {}
    return list(data.get("result", data) if isinstance(data, dict) else data)


async def compose_token(client, slug: str) -> str:
    page = await client.get(f"/mail/projects/{slug}/compose")
    assert page.status_code == 200
    return csrf_from(page.text)


async def test_compose_lists_the_active_agents_in_an_accessible_form(local_app, web_mailbox):
    await retire_agent(PROJECT, "GreenCastle")
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/compose?thread_id=OPS-1")
    assert page.status_code == 200
    html = page.text
    assert 'value="BlueLake"' in html and 'value="RedFox"' in html
    assert 'value="GreenCastle"' not in html and f'value="{OVERSEER_NAME}"' not in html
    for field in ("subject", "body_md", "thread_id"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert 'value="OPS-1"' in html
    assert "<fieldset>" in html and "<legend>Recipients</legend>" in html
    assert page_problems(html) == []


async def test_compose_for_an_unknown_project_is_a_404_page(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get("/mail/projects/no-such-project/compose")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no-such-project" in page.text


async def test_preview_renders_the_body_and_sends_nothing(local_app, web_mailbox):
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        token = await compose_token(client, web_mailbox.slug)
        page = await client.post(
            f"/mail/projects/{web_mailbox.slug}/compose",
            data={
                "csrf_token": token,
                "to": ["RedFox"],
                "subject": "Check",
                "body_md": "# Heads up\n\n[x](javascript:alert(1)) <script>alert(1)</script>",
                "action": "preview",
            },
        )
    assert page.status_code == 200
    assert "<h1>Heads up</h1>" in page.text
    assert "&lt;script&gt;" in page.text and 'href="javascript' not in page.text
    assert page_problems(page.text) == []
    assert 'value="RedFox" checked' in page.text  # the draft is kept
    assert state(web_mailbox) == before


async def test_send_delivers_high_importance_human_mail_and_shows_it(local_app, web_mailbox, isolated_env):
    async with web_client(local_app) as client:
        token = await compose_token(client, web_mailbox.slug)
        sent = await client.post(
            f"/mail/projects/{web_mailbox.slug}/compose",
            data={
                "csrf_token": token,
                "to": ["RedFox", "GreenCastle"],
                "subject": "Pause the migration",
                "body_md": "Stop **now**; I will look at it.",
                "thread_id": "OPS-9",
                "action": "send",
            },
        )
        assert sent.status_code == 303
        location = sent.headers["location"]
        assert location.startswith(f"/mail/projects/{web_mailbox.slug}/messages/")
        message_id = int(location.rsplit("/", 1)[1])
        shown = await client.get(location)
        if shown.status_code != 404:  # the message page belongs to another slice of the UI
            assert shown.status_code == 200 and "Pause the migration" in shown.text

    for agent in ("RedFox", "GreenCastle"):
        entries = [e for e in await inbox_via_mcp(agent) if e["id"] == message_id]
        assert len(entries) == 1
        (entry,) = entries
        assert (entry["from"], entry["importance"], entry["topic"]) == (OVERSEER_NAME, "high", HUMAN_TOPIC)
        assert entry["thread_id"] == "OPS-9" and entry["body_md"] == "Stop **now**; I will look at it."
    assert message_id not in [e["id"] for e in await inbox_via_mcp("BlueLake")]

    await asyncio.to_thread(flush_pending)
    storage: Path = isolated_env["storage"]
    copies = [p for p in storage.rglob(f"*__{message_id}.md") if ".git" not in p.parts]
    assert len(copies) == 4  # canonical, the overseer's outbox, two inboxes
    for path in copies:
        front, _body = parse_message_document(path.read_bytes())
        assert (front["from"], front["importance"], front["topic"]) == (OVERSEER_NAME, "high", HUMAN_TOPIC)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"subject": "Hi", "body_md": "x"}, "at least one recipient"),
        ({"to": ["RedFix"], "subject": "Hi", "body_md": "x"}, "RedFix"),
        ({"to": ["RedFox"], "subject": "   ", "body_md": "x"}, "subject is empty"),
        ({"to": ["RedFox"], "subject": "s" * 201, "body_md": "x"}, "201 characters"),
        ({"to": ["RedFox"], "subject": "Hi", "body_md": ""}, "body is empty"),
        ({"to": ["RedFox"], "subject": "Hi", "body_md": "x", "thread_id": "no spaces!"}, "thread_id"),
        ({"to": ["PurpleHill@web-beta"], "subject": "Hi", "body_md": "x"}, "another project"),
    ],
)
async def test_a_bad_draft_is_shown_again_with_what_is_wrong(local_app, web_mailbox, fields, says):
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        token = await compose_token(client, web_mailbox.slug)
        page = await client.post(
            f"/mail/projects/{web_mailbox.slug}/compose", data={"csrf_token": token, "action": "send", **fields}
        )
    assert page.status_code == 400
    assert says in page.text and 'role="alert"' in page.text
    assert '<form method="post"' in page.text and 'name="subject"' in page.text
    assert state(web_mailbox) == before


async def test_a_send_without_or_with_a_wrong_csrf_token_changes_nothing(local_app, web_mailbox):
    before = state(web_mailbox)
    data = {"to": ["RedFox"], "subject": "Hi", "body_md": "x", "action": "send"}
    async with web_client(local_app) as client:
        missing = await client.post(f"/mail/projects/{web_mailbox.slug}/compose", data=data)
        wrong = await client.post(f"/mail/projects/{web_mailbox.slug}/compose", data={**data, "csrf_token": "x" * 40})
        token = await compose_token(client, web_mailbox.slug)
        foreign = await client.post(
            f"/mail/projects/{web_mailbox.slug}/compose",
            data={**data, "csrf_token": token},
            headers={"Origin": "http://evil.example"},
        )
        reply = await client.post(f"/mail/projects/{web_mailbox.slug}/threads/1/reply", data={"body_md": "x"})
    assert [r.status_code for r in (missing, wrong, foreign, reply)] == [403, 403, 403, 403]
    assert state(web_mailbox) == before


async def test_a_reader_can_neither_open_compose_nor_send(make_web_app, web_mailbox):
    app = make_web_app(HTTP_JWT_ENABLED="1", HTTP_JWT_SECRET=JWT_SECRET, HTTP_RBAC_ENABLED="1")
    reader = jwt.encode(
        {"sub": "auditor", "role": "reader", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256"
    )
    before = state(web_mailbox)
    async with web_client(app, token=reader) as client:
        form = await client.get(f"/mail/projects/{web_mailbox.slug}/compose")
        send = await client.post(
            f"/mail/projects/{web_mailbox.slug}/compose",
            data={"to": ["RedFox"], "subject": "Hi", "body_md": "x", "action": "send"},
        )
        reply = await client.post(f"/mail/projects/{web_mailbox.slug}/threads/1/reply", data={"body_md": "x"})
    for answer in (form, send, reply):
        assert answer.status_code == 403 and "writer role" in answer.text
    assert state(web_mailbox) == before


async def test_a_reply_from_the_thread_reaches_its_agents(local_app, web_mailbox):
    thread = str(web_mailbox.ids["Plan for the parser"])
    async with web_client(local_app) as client:
        token = await compose_token(client, web_mailbox.slug)
        sent = await client.post(
            f"/mail/projects/{web_mailbox.slug}/threads/{thread}/reply",
            data={"csrf_token": token, "body_md": "Agreed, go ahead."},
        )
    assert sent.status_code == 303
    message_id = int(sent.headers["location"].rsplit("/", 1)[1])
    for agent in ("BlueLake", "RedFox"):
        (entry,) = [e for e in await inbox_via_mcp(agent) if e["id"] == message_id]
        assert entry["subject"] == "Re: Plan for the parser" and entry["thread_id"] == thread
        assert (entry["from"], entry["importance"], entry["topic"]) == (OVERSEER_NAME, "high", HUMAN_TOPIC)


async def test_a_bad_reply_is_shown_again_and_a_missing_thread_is_404(local_app, web_mailbox):
    thread = str(web_mailbox.ids["Plan for the parser"])
    before = state(web_mailbox)
    async with web_client(local_app) as client:
        token = await compose_token(client, web_mailbox.slug)
        empty = await client.post(
            f"/mail/projects/{web_mailbox.slug}/threads/{thread}/reply", data={"csrf_token": token, "body_md": " "}
        )
        missing = await client.post(
            f"/mail/projects/{web_mailbox.slug}/threads/NOPE-404/reply", data={"csrf_token": token, "body_md": "x"}
        )
        no_project = await client.post(
            "/mail/projects/no-such-project/threads/1/reply", data={"csrf_token": token, "body_md": "x"}
        )
    assert empty.status_code == 400 and "body is empty" in empty.text and 'name="body_md"' in empty.text
    assert missing.status_code == 404 and no_project.status_code == 404
    assert page_problems(empty.text) == []
    assert state(web_mailbox) == before


async def test_the_reply_form_include_renders_for_a_thread(local_app, web_mailbox):
    from mcp_agent_mail.web.templating import environment

    template = environment().from_string('{% include "_reply_form.html" %}')

    class Writer:
        can_write = True

    html = template.render(
        principal=Writer(),
        csrf_token=lambda: "tok",
        url=lambda name, **p: f"/mail/projects/{p['project']}/threads/{p['thread_id']}/reply",
        project={"slug": web_mailbox.slug},
        thread_id="OPS-1",
    )
    assert f'action="/mail/projects/{web_mailbox.slug}/threads/OPS-1/reply"' in html
    assert 'name="csrf_token" value="tok"' in html and '<label for="reply-body">' in html

    class Reader:
        can_write = False

    assert "<form" not in template.render(principal=Reader(), project={"slug": "x"}, thread_id="1")
