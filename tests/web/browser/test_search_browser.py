"""Searching a project from its page in a real browser."""

from __future__ import annotations

import re

import pytest
from browser_kit import SEARCH_WORD, require_route

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


def test_searching_a_word_shows_the_message_with_the_word_highlighted(page, live_server, mailbox):
    require_route("/projects/{project}", "W1")
    require_route("/projects/{project}/search", "W2")
    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}"))
    box = page.get_by_role("searchbox").or_(page.locator("input[name=q]")).first
    box.fill(SEARCH_WORD)
    with page.expect_navigation():
        box.press("Enter")
    expect(page).to_have_url(re.compile(rf"/mail/projects/{mailbox.slug}/search\?.*q={SEARCH_WORD}"))
    expect(page.get_by_role("main")).to_contain_text(mailbox.messages["deploy"]["subject"])
    highlighted = page.locator("main mark", has_text=re.compile(SEARCH_WORD, re.IGNORECASE))
    expect(highlighted.first).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text(mailbox.messages["review"]["subject"])
