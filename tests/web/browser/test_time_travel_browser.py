"""Time travel in a real browser: an agent's inbox as the Git archive showed it at an earlier moment."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from browser_kit import require_route, send, wait_for_archive

from wait_kit import wait_until

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


def test_inbox_at_an_earlier_time_shows_what_had_arrived_then(page, live_server, mailbox):
    require_route("/projects/{project}/agents/{agent}/inbox-at", "W2")
    dev = mailbox.agents["dev"]
    wait_for_archive(live_server.database_url)
    # Git records whole seconds: the cut-off is a second by which the seeded mail is committed, and the
    # later message is sent only once the clock has moved past it.
    cutoff = int(time.time())
    wait_until(lambda: time.time() >= cutoff + 1, 3, message="the clock did not move")
    late = send(live_server.mcp, mailbox.agents["ops"], [dev], "Late arrival after the cut-off", "Sent later.")
    wait_for_archive(live_server.database_url)

    at = datetime.fromtimestamp(cutoff, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}/agents/{dev.name}/inbox-at?at={at}"))
    main = page.get_by_role("main")
    expect(main).to_contain_text(mailbox.messages["plan"]["subject"])
    expect(main).not_to_contain_text(late["subject"])

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(live_server.url(f"/mail/projects/{mailbox.slug}/agents/{dev.name}/inbox-at?at={now}"))
    expect(page.get_by_role("main")).to_contain_text(late["subject"])
