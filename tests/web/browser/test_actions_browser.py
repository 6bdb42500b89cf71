"""An operator action in a real browser: confirm, then see what changed."""

from __future__ import annotations

import re

import pytest
from browser_kit import ToolCallFailed, create_agent, require_route, send

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


def test_retiring_an_agent_asks_first_then_reports_and_shows_the_change(page, live_server, mailbox):
    require_route("/projects/{project}/agents/{agent}/retire/confirm", "W5")
    leaving = create_agent(live_server.mcp, "Leaves the project in the browser test")
    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}/agents/{leaving.name}/retire/confirm"))
    main = page.get_by_role("main")
    expect(main).to_contain_text(leaving.name)
    expect(main).to_contain_text(re.compile("retire", re.IGNORECASE))
    # Nothing has happened yet: the agent can still send.
    send(live_server.mcp, leaving, [mailbox.agents["lead"]], "Still here", "Before retirement.")

    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("retire", re.IGNORECASE)).click()
    expect(page.get_by_role("main")).to_contain_text(
        re.compile(rf"retired.*{leaving.name}|{leaving.name}.*retired", re.I)
    )

    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}"))
    row = page.get_by_role("main").locator("tr, li", has_text=leaving.name).first
    expect(row).to_contain_text(re.compile("retired", re.IGNORECASE))
    with pytest.raises(ToolCallFailed, match="AGENT_RETIRED"):
        send(live_server.mcp, leaving, [mailbox.agents["lead"]], "After retirement", "Refused.")
