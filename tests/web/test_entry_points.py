"""Pages lead a writer to the reply form and the operator actions, and show a reader none of them."""

from __future__ import annotations

import time

import jwt
from web_kit import web_client

JWT_SECRET = "entry-points-test-secret-0123456789abcdef"


def _pages(slug: str, message_id: int) -> dict[str, str]:
    return {
        "thread": f"/mail/projects/{slug}/threads/{message_id}",
        "message": f"/mail/projects/{slug}/messages/{message_id}",
        "project": f"/mail/projects/{slug}",
        "reservations": f"/mail/projects/{slug}/reservations",
    }


async def test_a_writer_finds_the_reply_form_and_every_action_link(local_app, web_mailbox):
    slug, plan = web_mailbox.slug, web_mailbox.ids["Plan for the parser"]
    async with web_client(local_app) as client:
        pages = {name: (await client.get(path)).text for name, path in _pages(slug, plan).items()}
        favicon = await client.get("/mail/static/favicon.svg")
    assert f'action="/mail/projects/{slug}/threads/{plan}/reply"' in pages["thread"]
    assert 'name="csrf_token"' in pages["thread"]
    assert f"/mail/projects/{slug}/messages/delete/confirm?message_ids={plan}" in pages["message"]
    assert f"/mail/projects/{slug}/archive/confirm" in pages["project"]
    assert f"/mail/projects/{slug}/agents/RedFox/retire/confirm" in pages["project"]
    assert "pages.css" in pages["reservations"] and 'rel="icon"' in pages["project"]
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg+xml")


async def test_a_reader_sees_no_reply_form_and_no_action_links(make_web_app, web_mailbox):
    app = make_web_app(HTTP_JWT_ENABLED="1", HTTP_JWT_SECRET=JWT_SECRET, HTTP_RBAC_ENABLED="1")
    reader = jwt.encode({"sub": "auditor", "role": "reader", "exp": int(time.time()) + 3600}, JWT_SECRET, "HS256")
    slug, plan = web_mailbox.slug, web_mailbox.ids["Plan for the parser"]
    async with web_client(app, token=reader) as client:
        for name, path in _pages(slug, plan).items():
            page = await client.get(path)
            assert page.status_code == 200, name
            assert "/reply" not in page.text and "/confirm" not in page.text, name
