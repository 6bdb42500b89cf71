"""Reading a message and its thread in a real browser."""

from __future__ import annotations

import re

import pytest
from browser_kit import require_route

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


def test_a_message_links_to_its_thread_which_shows_every_message_in_order(page, live_server, mailbox):
    require_route("/projects/{project}/messages/{message_id}", "W1")
    require_route("/projects/{project}/threads/{thread_id}", "W1")
    plan = mailbox.messages["plan"]
    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}/messages/{plan['id']}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(plan["subject"])
    expect(page.locator("strong", has_text="users").first).to_be_visible()  # the body is rendered Markdown

    page.locator("main a[href*='/threads/']").first.click()
    expect(page).to_have_url(re.compile(r"/mail/projects/[^/]+/threads/[^/]+$"))
    main = page.get_by_role("main")
    expect(main).to_contain_text("Moving users to the new table")
    expect(main).to_contain_text("must be built concurrently")
    text = main.inner_text()
    assert text.index("Moving users to the new table") < text.index("must be built concurrently")
