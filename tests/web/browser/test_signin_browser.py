"""Signing in to the web UI with the server's bearer token, in a real browser."""

from __future__ import annotations

import re

import pytest
from browser_kit import TOKEN, require_route

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


def _submit_token(page, token: str) -> None:
    field = page.get_by_label(re.compile("token", re.IGNORECASE))
    field.fill(token)
    with page.expect_navigation():
        field.press("Enter")


def test_a_visitor_signs_in_with_the_token_and_lands_on_the_inbox(anonymous_page, page_problems, live_server, mailbox):
    require_route("/signin", "W1")
    require_route("/", "W1")
    page = anonymous_page
    page.goto(live_server.url("/mail/"))
    expect(page).to_have_url(re.compile(r"/mail/signin"))
    expect(page.get_by_label(re.compile("token", re.IGNORECASE))).to_be_visible()

    page_problems.allow(r"status of 40[13]")  # the refused sign-in below answers 401/403
    _submit_token(page, "not-the-token")
    expect(page).to_have_url(re.compile(r"/mail/signin"))
    expect(
        page.get_by_role("alert").or_(page.get_by_text(re.compile("invalid|wrong|not accepted", re.I)))
    ).to_be_visible()
    from mcp_agent_mail.web.security import SESSION_COOKIE

    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}, "a refused sign-in set a session"

    _submit_token(page, TOKEN)
    expect(page).to_have_url(re.compile(r"/mail/?(\?.*)?$"))
    expect(page.get_by_text(mailbox.messages["review"]["subject"]).first).to_be_visible()
    session = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert len(session) == 1, page.context.cookies()
    assert session[0]["httpOnly"] and session[0]["sameSite"] == "Strict" and session[0]["path"] == "/mail", session


def test_signing_out_ends_the_session(page, live_server):
    require_route("/signout", "W1")
    page.goto(live_server.url("/mail/"))
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("sign out", re.IGNORECASE)).click()
    page.goto(live_server.url("/mail/projects"))
    expect(page).to_have_url(re.compile(r"/mail/signin"))
