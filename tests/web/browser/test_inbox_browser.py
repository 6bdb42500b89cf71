"""The unified inbox in a real browser: order, keyboard navigation, and live arrival of new mail."""

from __future__ import annotations

import re
import uuid

import pytest
from browser_kit import require_route, send

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]

MESSAGE_URL = re.compile(r"/mail/projects/[^/]+/messages/\d+$")


def _position(text: str, pattern: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} is not on the page"
    return found.start()


def test_unified_inbox_lists_the_seeded_mail_newest_first(page, live_server, mailbox):
    require_route("/", "W1")
    page.goto(live_server.url("/mail/"))
    expect(page.get_by_role("main")).to_be_visible()
    text = page.get_by_role("main").inner_text()
    review = _position(text, re.escape(mailbox.messages["review"]["subject"]))
    deploy = _position(text, re.escape(mailbox.messages["deploy"]["subject"]))
    reply = _position(text, re.escape(mailbox.messages["reply"]["subject"]))
    plan = _position(text, r"(?<!Re: )" + re.escape(mailbox.messages["plan"]["subject"]))
    assert review < deploy < reply < plan, "the inbox is not newest first"


def test_keyboard_j_k_and_enter_open_a_message(page, live_server, mailbox):
    require_route("/", "W1")
    require_route("/projects/{project}/messages/{message_id}", "W1")
    page.goto(live_server.url("/mail/"))
    expect(page.get_by_role("main")).to_be_visible()
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(MESSAGE_URL)
    opened = page.url
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading.strip(), "the message page has no heading"

    page.go_back()
    expect(page.get_by_role("main")).to_be_visible()
    for key in ("j", "j", "k"):
        page.keyboard.press(key)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == opened, "j j k should select the same message as j"


def test_mail_sent_through_mcp_appears_in_the_open_inbox_without_reload(page, live_server, mailbox):
    require_route("/", "W1")
    require_route("/api/inbox", "W1")
    page.goto(live_server.url("/mail/"))
    expect(page.get_by_role("main")).to_be_visible()
    page.evaluate("window.__stillTheSamePage = true")
    subject = f"Live arrival {uuid.uuid4().hex[:8]}"
    send(live_server.mcp, mailbox.agents["ops"], [mailbox.agents["lead"]], subject, "Fresh news for the open page.")
    expect(page.get_by_text(subject)).to_be_visible(timeout=30_000)
    assert page.evaluate("window.__stillTheSamePage") is True, "the page reloaded"
