"""Screenshots of the web UI for the documentation: ``MCP_AGENT_MAIL_SCREENSHOTS=1`` writes docs/screenshots/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_kit import require_route

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


@pytest.fixture
def screenshot_dir() -> Path:
    """Where to write the screenshots; skips unless MCP_AGENT_MAIL_SCREENSHOTS=1 (normal runs leave them)."""
    if os.environ.get("MCP_AGENT_MAIL_SCREENSHOTS") != "1":
        pytest.skip("set MCP_AGENT_MAIL_SCREENSHOTS=1 to rewrite docs/screenshots/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def test_screenshots_of_inbox_thread_and_reservations(page, live_server, mailbox, screenshot_dir):
    require_route("/", "W1")
    require_route("/projects/{project}/threads/{thread_id}", "W1")
    require_route("/projects/{project}/reservations", "W2")
    shots = {
        "inbox.png": "/mail/",
        "thread.png": f"/mail/projects/{mailbox.slug}/threads/{mailbox.thread_id}",
        "reservations.png": f"/mail/projects/{mailbox.slug}/reservations",
    }
    for name, path in shots.items():
        page.goto(live_server.url(path))
        expect(page.get_by_role("main")).to_be_visible()
        page.evaluate("document.fonts.ready")
        target = screenshot_dir / name
        page.screenshot(path=str(target))
        assert target.stat().st_size > 5_000, f"{name} looks empty"
