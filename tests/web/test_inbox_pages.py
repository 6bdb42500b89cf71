"""The unified inbox page and its live JSON feed, through the real HTTP app."""

from __future__ import annotations

import re

import pytest
from web_kit import OTHER, web_client


def subjects(html: str) -> list[str]:
    """Return the subjects of the listed messages, top to bottom."""
    return re.findall(r'<td class="subject">\s*<a href="[^"]+">([^<]+)</a>', html)


async def test_the_inbox_lists_every_project_newest_first(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get("/mail/")
    assert page.status_code == 200
    assert subjects(page.text) == [
        "Elsewhere note",
        "Quiet note",
        "Release blocker",
        "Re: Plan for the parser",
        "Plan for the parser",
    ]
    assert f">{web_mailbox.other_slug}</a>" in page.text
    assert '<span class="badge urgent">urgent</span>' in page.text
    assert "awaiting ack" in page.text
    assert "+1 bcc" in page.text  # the Quiet note's blind copy is counted, not named
    assert "We split it." in page.text  # excerpt without Markdown marks
    assert re.search(r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">just now</time>', page.text)
    assert 'data-live-url="/mail/api/inbox"' in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("importance=urgent", ["Release blocker"]),
        ("ack=1", ["Release blocker"]),
        ("sender=greencastle", ["Quiet note"]),
        ("sender=Blue-Lake", ["Release blocker", "Plan for the parser"]),
        ("project=OTHER", ["Elsewhere note"]),
        ("importance=urgent&sender=RedFox", []),
    ],
)
async def test_filters_narrow_the_inbox(local_app, web_mailbox, query, expected):
    query = query.replace("OTHER", web_mailbox.other_slug)
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/?{query}")
    assert page.status_code == 200
    assert subjects(page.text) == expected
    if not expected:
        assert "No messages match these filters." in page.text


async def test_the_unread_filter_means_someone_has_not_read_it(local_app, web_mailbox):
    async with web_client(local_app) as client:
        token_page = await client.get(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/inbox")
        token = re.search(r'name="csrf_token" value="([^"]+)"', token_page.text).group(1)  # type: ignore[union-attr]
        await client.post(f"/mail/projects/{web_mailbox.slug}/agents/RedFox/mark-all-read", data={"csrf_token": token})
        page = await client.get("/mail/?unread=1")
    # Release blocker is still unread by its cc GreenCastle; Quiet note by its bcc BlueLake.
    assert subjects(page.text) == ["Elsewhere note", "Quiet note", "Release blocker", "Re: Plan for the parser"]


async def test_the_inbox_pages_without_skipping_or_repeating(local_app, web_mailbox):
    for n in range(55):
        await web_mailbox.send("PurpleHill", ["PurpleHill"], f"Filler {n:02d}", project=OTHER)
    async with web_client(local_app) as client:
        first = await client.get(f"/mail/?project={web_mailbox.other_slug}")
        second = await client.get(f"/mail/?project={web_mailbox.other_slug}&page=2")
    assert len(subjects(first.text)) == 50
    assert subjects(first.text)[0] == "Filler 54"
    assert subjects(second.text) == [f"Filler {n:02d}" for n in range(4, -1, -1)] + ["Elsewhere note"]
    assert f'href="/mail/?project={web_mailbox.other_slug}&amp;page=2"' in first.text
    assert "data-live-url" not in second.text  # only the first page updates live


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("page=-1", "page must be between 1"),
        ("page=abc", "page must be a whole number"),
        ("importance=bogus", "importance must be one of low, normal, high, urgent"),
        ("unread=maybe", "unread must be 1 or 0"),
    ],
)
async def test_bad_filters_get_a_400_page(local_app, web_mailbox, query, says):
    async with web_client(local_app) as client:
        page = await client.get(f"/mail/?{query}")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert says in page.text


async def test_an_unknown_project_filter_is_a_404_page(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get("/mail/?project=no-such-project")
    assert page.status_code == 404
    assert "no-such-project" in page.text


async def test_the_feed_returns_only_messages_newer_than_after(local_app, web_mailbox):
    newest = web_mailbox.ids["Elsewhere note"]
    async with web_client(local_app) as client:
        empty = await client.get(f"/mail/api/inbox?after={newest}")
        fresh_id = await web_mailbox.send("BlueLake", ["GreenCastle"], "Fresh <news>", importance="high")
        fresh = await client.get(f"/mail/api/inbox?after={newest}")
        filtered = await client.get(f"/mail/api/inbox?after={newest}&sender=RedFox")
    assert empty.status_code == 200 and empty.json()["messages"] == []
    [item] = fresh.json()["messages"]
    assert item["id"] == fresh_id
    assert item["subject"] == "Fresh <news>"  # JSON; app.js sets it as text, never as HTML
    assert item["sender"] == "BlueLake" and item["importance"] == "high"
    assert item["recipients_text"] == "GreenCastle"
    assert item["url"] == f"/mail/projects/{web_mailbox.slug}/messages/{fresh_id}"
    assert item["unread_count"] == 1
    assert item["created_exact"].endswith(" UTC")
    assert filtered.json()["messages"] == []
    assert fresh.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("query", ["after=-3", "after=x", "importance=loud"])
async def test_the_feed_answers_bad_parameters_with_a_json_400(local_app, web_mailbox, query):
    async with web_client(local_app) as client:
        answer = await client.get(f"/mail/api/inbox?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]


async def test_an_unknown_address_under_mail_is_a_404_page(local_app, web_mailbox):
    async with web_client(local_app) as client:
        page = await client.get("/mail/no/such/page")
    assert page.status_code == 404
    assert "There is no page at this address." in page.text
