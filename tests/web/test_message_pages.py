"""A message's page (body, recipients, attachments, thread, archive commit) and a thread's page."""

from __future__ import annotations

import re

import pytest
from web_kit import OTHER, PROJECT, web_client

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message


async def test_a_message_page_shows_the_rendered_body_and_its_recipients(local_app, web_mailbox):
    blocker = web_mailbox.ids["Release blocker"]
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{blocker}")
    html = page.text
    assert page.status_code == 200
    assert '<h1 id="message-subject">Release blocker' in html
    assert "<dt>From</dt><dd>BlueLake</dd>" in html
    assert "<dt>To</dt><dd>RedFox</dd>" in html
    assert "<dt>Cc</dt><dd>GreenCastle</dd>" in html
    assert "acknowledgement requested" in html
    assert "<td>RedFox</td><td>to</td><td>not yet</td><td>not yet</td>" in html
    assert "<td>GreenCastle</td><td>cc</td>" in html


async def test_markdown_is_rendered_and_html_in_a_body_is_not(local_app, web_mailbox):
    message_id = await web_mailbox.send(
        "BlueLake", ["RedFox"], "Tricky <b>subject</b>", body_md="**bold** <script>alert(1)</script>"
    )
    plan = web_mailbox.ids["Plan for the parser"]
    async with web_client(local_app) as client:
        tricky = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{message_id}")
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{plan}")
    assert "<h1>Plan</h1>" in page.text and "<strong>split</strong>" in page.text
    assert "<strong>bold</strong>" in tricky.text
    assert "<script>alert" not in tricky.text
    assert "Tricky &lt;b&gt;subject&lt;/b&gt;" in tricky.text


async def test_blind_copies_are_counted_never_named(local_app, web_mailbox):
    quiet = web_mailbox.ids["Quiet note"]
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{quiet}")
    assert "<dt>Bcc</dt><dd>1 hidden recipient</dd>" in page.text
    assert "BlueLake" not in page.text.split('id="main"', 1)[1]


async def test_the_thread_around_a_message_is_listed(local_app, web_mailbox):
    plan, reply = web_mailbox.ids["Plan for the parser"], web_mailbox.ids["Re: Plan for the parser"]
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{reply}")
    thread = page.text.split('id="thread-heading"', 1)[1]
    assert f'<a href="/mail/projects/{web_mailbox.slug}/messages/{plan}">Plan for the parser</a>' in thread
    assert 'class="current" aria-current="page"' in thread
    assert thread.index("Plan for the parser") < thread.index("Re: Plan for the parser")
    assert f'href="/mail/projects/{web_mailbox.slug}/threads/{plan}"' in thread


async def test_attachments_link_to_their_download_address(local_app, web_mailbox, code_repo):
    (code_repo / "notes.txt").write_text("attached notes\n")
    key = str(code_repo)
    slug = (await ensure_project(key))["slug"]
    for name in ("BlueLake", "RedFox"):
        await register_agent(key, "pytest", "m", name=name)
        await set_contact_policy(key, name, "open")
    sent = await send_message(
        key, "BlueLake", ["RedFox"], "With a file", "See the notes.", attachment_paths=["notes.txt"]
    )
    message_id = sent["deliveries"][0]["payload"]["id"]
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{slug}/messages/{message_id}")
    link = f'<a href="/mail/projects/{slug}/messages/{message_id}/attachments/0">notes.txt</a>'
    assert link in page.text
    assert "text/plain" in page.text


async def test_the_archive_commit_that_recorded_the_message_is_linked(local_app, web_mailbox):
    plan = web_mailbox.ids["Plan for the parser"]
    url = f"/mail/projects/{web_mailbox.slug}/messages/{plan}"
    async with web_client(local_app) as client:
        before = await client.get(url)
        flush_pending()
        after = await client.get(url)
    assert "not committed to the archive yet" in before.text
    found = re.search(r'<a href="/mail/archive/commits/([0-9a-f]{40})"><code>([0-9a-f]{12})</code></a>', after.text)
    assert found is not None and found.group(1).startswith(found.group(2))


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/mail/projects/SLUG/messages/abc", 400, "message id must be a number"),
        ("/mail/projects/SLUG/messages/-4", 400, "message id must be a number"),
        ("/mail/projects/SLUG/messages/999999", 404, "Message 999999 is not in project"),
        ("/mail/projects/nowhere/messages/1", 404, "not found"),
        ("/mail/projects/SLUG/threads/no-such-thread", 404, "has no messages"),
        ("/mail/projects/SLUG/threads/1?page=0", 400, "page must be between 1"),
    ],
)
async def test_bad_or_missing_messages_and_threads(local_app, web_mailbox, path, status, says):
    async with web_client(local_app) as client:
        page = await client.get(path.replace("SLUG", web_mailbox.slug))
    assert page.status_code == status
    assert says in page.text


async def test_another_projects_message_is_not_shown_under_this_project(local_app, web_mailbox):
    elsewhere = web_mailbox.ids["Elsewhere note"]
    async with web_client(local_app) as client:
        wrong = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{elsewhere}")
        right = await client.get(f"/mail/projects/{web_mailbox.other_slug}/messages/{elsewhere}")
    assert wrong.status_code == 404
    assert right.status_code == 200 and "Elsewhere note" in right.text


async def test_mail_delivered_from_another_project_shows_in_the_recipients_project(local_app, web_mailbox):
    message_id = await web_mailbox.send("PurpleHill", [f"RedFox@{web_mailbox.slug}"], "Across projects", project=OTHER)
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/messages/{message_id}")
    assert page.status_code == 200
    assert f"RedFox@{web_mailbox.slug}" in page.text
    assert PROJECT  # the recipient's project path is the page's project


async def test_a_thread_page_shows_every_message_with_its_body(local_app, web_mailbox):
    plan = web_mailbox.ids["Plan for the parser"]
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/threads/{plan}")
    html = page.text
    assert page.status_code == 200
    assert "<h1>Plan for the parser</h1>" in html
    assert html.count('<article class="thread-message"') == 2
    assert "<strong>split</strong>" in html and "Body of Re: Plan for the parser." in html
    assert "BlueLake → RedFox" in html and "RedFox → BlueLake" in html
