"""Every page of the web UI in a real browser: it loads, has its landmarks, and raises no console error or
Content-Security-Policy violation (the ``page`` fixture fails the test on either)."""

from __future__ import annotations

import pytest
from browser_kit import Mailbox, require_route
from dulwich.repo import Repo

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]

# (route template under /mail, who builds it, how to fill it in from the seeded mailbox)
PAGES: list[tuple[str, str, str]] = [
    ("/", "W1", "/mail/"),
    ("/projects", "W1", "/mail/projects"),
    ("/projects/{project}", "W1", "/mail/projects/{slug}"),
    ("/projects/{project}/agents/{agent}/inbox", "W1", "/mail/projects/{slug}/agents/{dev}/inbox"),
    ("/projects/{project}/agents/{agent}/outbox", "W1", "/mail/projects/{slug}/agents/{dev}/outbox"),
    ("/projects/{project}/messages/{message_id}", "W1", "/mail/projects/{slug}/messages/{plan}"),
    ("/projects/{project}/threads/{thread_id}", "W1", "/mail/projects/{slug}/threads/{thread}"),
    ("/projects/{project}/search", "W2", "/mail/projects/{slug}/search?q=migration"),
    ("/projects/{project}/reservations", "W2", "/mail/projects/{slug}/reservations"),
    ("/projects/{project}/acks", "W2", "/mail/projects/{slug}/acks"),
    ("/archive", "W2", "/mail/archive"),
    ("/archive/commits/{sha}", "W2", "/mail/archive/commits/{sha}"),
    ("/archive/tree", "W2", "/mail/archive/tree"),
    ("/projects/{project}/agents/{agent}/inbox-at", "W2", "/mail/projects/{slug}/agents/{dev}/inbox-at?at={now}"),
    ("/projects/{project}/compose", "W3", "/mail/projects/{slug}/compose"),
    ("/projects/{project}/agents/{agent}/retire/confirm", "W5", "/mail/projects/{slug}/agents/{dev}/retire/confirm"),
    ("/projects/{project}/archive/confirm", "W5", "/mail/projects/{slug}/archive/confirm"),
]


def _fill(url: str, box: Mailbox, storage) -> str:
    from datetime import UTC, datetime

    sha = Repo(str(storage)).head().decode() if "{sha}" in url else ""
    return url.format(
        slug=box.slug,
        dev=box.agents["dev"].name,
        plan=box.messages["plan"]["id"],
        thread=box.thread_id,
        sha=sha,
        now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )


@pytest.mark.parametrize(("route", "owner", "url"), PAGES, ids=[url for _, _, url in PAGES])
def test_page_loads_with_landmarks_and_no_console_errors(page, live_server, mailbox, route, owner, url):
    require_route(route, owner)
    response = page.goto(live_server.url(_fill(url, mailbox, live_server.storage)))
    assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("navigation").first).to_be_visible()
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    assert page.title().strip(), "the page has no title"
    # The first Tab lands on something visible that shows it has the focus.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return {tag: e.tagName, outline: s.outlineStyle !== 'none' || s.boxShadow !== 'none'}; }"
    )
    assert focused["tag"] != "BODY", "Tab does not reach any control"
    assert focused["outline"], f"the focused {focused['tag']} has no visible focus style"


def test_a_missing_message_is_a_real_404_page(page, page_problems, live_server, mailbox):
    require_route("/projects/{project}/messages/{message_id}", "W1")
    page_problems.allow(r"status of 404")
    response = page.goto(live_server.url(f"/mail/projects/{mailbox.slug}/messages/999999"))
    assert response is not None and response.status == 404
    expect(page.get_by_role("main")).to_contain_text("not found", ignore_case=True)
