"""The overseer composes a message in a real browser; the agent receives it through MCP."""

from __future__ import annotations

import re
import uuid

import pytest
from browser_kit import fetch_inbox, require_route

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


def _pick_recipient(page, name: str) -> None:
    """Choose ``name`` in the recipient control, whether check boxes or a multiple select."""
    box = page.get_by_role("checkbox", name=name)
    if box.count():
        box.check()
        return
    page.get_by_label(re.compile("^(to|recipients?)", re.IGNORECASE)).first.select_option(label=name)


def test_overseer_message_from_the_compose_page_reaches_the_agent_inbox(page, live_server, mailbox):
    require_route("/projects/{project}/compose", "W3")
    dev = mailbox.agents["dev"]
    subject = f"Please pause the rollout {uuid.uuid4().hex[:6]}"
    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}/compose"))
    _pick_recipient(page, dev.name)
    page.get_by_label(re.compile("^subject", re.IGNORECASE)).fill(subject)
    page.get_by_label(re.compile("^(body|message)", re.IGNORECASE)).fill("Stop after the **current** step.")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^send", re.IGNORECASE)).click()
    expect(page).to_have_url(re.compile(r"/mail/projects/[^/]+/messages/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)

    received = [item for item in fetch_inbox(live_server.mcp, dev) if item["subject"] == subject]
    assert len(received) == 1, "the overseer's message is not in the agent's inbox"
    assert received[0]["importance"] == "high"
