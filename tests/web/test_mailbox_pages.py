"""An agent's inbox and outbox pages, and marking mail read from them."""

from __future__ import annotations

import re

import pytest
from web_kit import csrf_from, web_client


async def test_an_inbox_shows_read_and_ack_state(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/redfox/inbox")
    html = page.text
    assert page.status_code == 200
    assert 'RedFox <span class="muted">· inbox</span>' in html
    assert "Inbox (3 unread)" in html
    assert html.count('class="unread"') == 3
    assert "needs ack" in html
    assert "Re: Plan for the parser" not in html  # RedFox sent that one
    assert 'name="message_ids"' in html and "Mark all 3 read" in html


async def test_an_outbox_shows_recipients_and_how_many_read(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/GreenCastle/outbox")
    html = page.text
    assert "Quiet note" in html
    assert 'RedFox <span class="muted">+1 bcc</span>' in html
    assert "BlueLake" not in html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]  # the bcc is never named
    assert "0 of 2" in html


async def test_marking_selected_messages_read_reports_how_many_changed(local_app, web_mailbox):
    plan, blocker = web_mailbox.ids["Plan for the parser"], web_mailbox.ids["Release blocker"]
    url = f"/mail/projects/{web_mailbox.slug}/agents/RedFox"
    async with web_client(local_app) as client:
        token = csrf_from((await client.get(f"{url}/inbox")).text)
        first = await client.post(
            f"{url}/mark-read", data={"csrf_token": token, "message_ids": [str(plan), str(blocker)]}
        )
        shown = await client.get(first.headers["location"])
        again = await client.post(f"{url}/mark-read", data={"csrf_token": token, "message_ids": [str(plan)]})
    assert first.status_code == 303
    assert first.headers["location"] == f"{url}/inbox?marked=2"
    assert "Marked 2 messages as read." in shown.text
    assert "Inbox (1 unread)" in shown.text
    assert again.headers["location"].endswith("marked=0")
    assert web_mailbox.unread("RedFox") == 1
    assert web_mailbox.unread("GreenCastle") == 1  # another recipient's receipt is untouched


async def test_mark_all_read_marks_only_this_agent(local_app, web_mailbox):
    url = f"/mail/projects/{web_mailbox.slug}/agents/RedFox"
    async with web_client(local_app) as client:
        token = csrf_from((await client.get(f"{url}/inbox")).text)
        answer = await client.post(f"{url}/mark-all-read", data={"csrf_token": token}, follow_redirects=True)
    assert "Marked 3 messages as read." in answer.text
    assert web_mailbox.unread("RedFox") == 0
    assert web_mailbox.unread("BlueLake") == 2


@pytest.mark.parametrize(
    ("ids", "says"),
    [([], "No messages were selected"), (["12x"], "message_ids must be message numbers")],
)
async def test_a_bad_selection_is_a_400_and_changes_nothing(local_app, web_mailbox, ids, says):
    before = web_mailbox.receipts()
    url = f"/mail/projects/{web_mailbox.slug}/agents/RedFox"
    async with web_client(local_app) as client:
        token = csrf_from((await client.get(f"{url}/inbox")).text)
        answer = await client.post(f"{url}/mark-read", data={"csrf_token": token, "message_ids": ids})
    assert answer.status_code == 400
    assert says in answer.text
    assert web_mailbox.receipts() == before


async def test_a_missing_agent_or_project_is_a_404_page(local_app, web_mailbox):
    async with web_client(local_app) as client:
        agent = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/NoSuchAgent/inbox")
        outbox = await client.get("/mail/projects/nowhere/agents/RedFox/outbox")
        token = csrf_from((await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox")).text)
        post = await client.post(
            f"/mail/projects/{web_mailbox.slug}/agents/NoSuchAgent/mark-all-read", data={"csrf_token": token}
        )
    assert agent.status_code == 404 and "NoSuchAgent" in agent.text
    assert outbox.status_code == 404
    assert post.status_code == 404


async def test_a_get_on_a_mark_address_is_not_allowed(local_app, web_mailbox):
    async with web_client(local_app) as client:
        answer = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read")
    assert answer.status_code == 405
    assert web_mailbox.unread("RedFox") == 3


async def test_the_inbox_is_paged(local_app, web_mailbox):
    for n in range(52):
        await web_mailbox.send("BlueLake", ["GreenCastle"], f"Note {n:02d}")
    async with web_client(local_app) as client:
        first = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/GreenCastle/inbox")
        second = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/GreenCastle/inbox?page=2")
        bad = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/GreenCastle/inbox?page=-1")
    assert len(re.findall(r'name="message_ids"', first.text)) == 50
    assert "Note 51" in first.text and "Note 01" not in first.text
    assert "Note 01" in second.text and "Release blocker" in second.text
    assert bad.status_code == 400
