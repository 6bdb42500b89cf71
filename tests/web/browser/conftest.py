"""A real ``mcp-agent-mail serve`` and a real headless Chromium for the web UI's browser tests.

One server (temporary data directory, ``HTTP_BEARER_TOKEN`` set, so the sign-in page is used) and one
browser (Debian's ``/usr/bin/chromium`` driven by Playwright, nothing downloaded; Playwright gives it a
fresh temporary profile and deletes it afterwards) serve the whole session; both are always stopped.
Each test gets a fresh browser context signed in with the token, and its page fails the test on any
console error, uncaught exception or Content-Security-Policy violation. The tests are skipped, with
the reason, where Playwright or Chromium is missing (``./scripts/test`` installs both).

Playwright's synchronous API marks its event loop as running between calls, which would stop the
asyncio tests that run later in the same session; ``browser_loop`` hands the loop to Playwright only
while a browser test runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browser_kit import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CSP_LISTENER,
    TOKEN,
    Mailbox,
    McpCaller,
    require_route,
    seed_mailbox,
    wait_for_archive,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import load_http

VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class LiveServer:
    """The running server, how to reach it, and where its database lives."""

    base: str
    database_url: str
    storage: Path
    mcp: McpCaller
    process: Any

    def url(self, path: str) -> str:
        """Return the absolute URL of a path on the server."""
        return f"{self.base}{path}"


@dataclass
class PlaywrightSession:
    """Playwright's objects for the session and the event loop its synchronous API runs on."""

    playwright: Any
    browser: Any
    loop: asyncio.AbstractEventLoop | None


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions and CSP violations seen by one page."""

    entries: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (e.g. the status line of a refusal the test provokes)."""
        self.allowed.append(re.compile(pattern))

    def console(self, message: Any) -> None:
        """Record a console message of type error (not the browser's own guess at /favicon.ico)."""
        where = message.location.get("url", "?")
        if message.type != "error" or where.endswith("/favicon.ico"):
            return
        if not any(pattern.search(message.text) for pattern in self.allowed):
            self.entries.append(f"console error at {where}: {message.text}")

    def page_error(self, error: Any) -> None:
        """Record an uncaught exception in the page."""
        self.entries.append(f"uncaught exception: {error}")


def _require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]'; ./scripts/test does it)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; ./scripts/test does it)")


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[PlaywrightSession]:
    """Start Playwright and a headless Chromium once per session; close both at the end."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(headless=True, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    session = PlaywrightSession(playwright, browser, asyncio._get_running_loop())
    asyncio._set_running_loop(None)
    try:
        yield session
    finally:
        with playwright_loop(session):
            try:
                browser.close()
            finally:
                playwright.stop()


@contextlib.contextmanager
def playwright_loop(session: PlaywrightSession) -> Iterator[None]:
    """Mark Playwright's event loop as running while the block calls Playwright, and clear it after."""
    asyncio._set_running_loop(session.loop)
    try:
        yield
    finally:
        asyncio._set_running_loop(None)


@pytest.fixture(autouse=True)
def browser_loop(playwright_session: PlaywrightSession) -> Iterator[None]:
    """Give Playwright its event loop during a browser test and take it away afterwards."""
    with playwright_loop(playwright_session):
        yield


@pytest.fixture(scope="session")
def live_server(
    playwright_session: PlaywrightSession,
    tmp_path_factory: pytest.TempPathFactory,
    session_database_url: Callable[[Path], str],
) -> Iterator[LiveServer]:
    """Run ``mcp-agent-mail serve`` on a free loopback port with a bearer token; always stop it."""
    root = tmp_path_factory.mktemp("web-browser")
    database_url = session_database_url(root / "mailbox.sqlite3")
    env = load_http.mailbox_env(
        root, database_url, HTTP_BEARER_TOKEN=TOKEN, ARCHIVE_FLUSH_INTERVAL_MS="50", LOG_LEVEL="WARNING"
    )
    server = load_http.ServerProcess(env, root / "server.log")
    try:
        server.wait_alive()
        yield LiveServer(server.base, database_url, root / "archive", McpCaller(server.base, TOKEN), server)
    finally:
        code = server.stop()
    assert code in (0, -15), f"server did not stop cleanly:\n{server.log_tail()}"


@pytest.fixture(scope="session")
def mailbox(live_server: LiveServer) -> Mailbox:
    """Seed the demo project through the MCP tools over HTTP and wait until the Git archive has it."""
    box = seed_mailbox(live_server.mcp)
    wait_for_archive(live_server.database_url)
    return box


def sign_in(page: Any, server: LiveServer, token: str = TOKEN) -> None:
    """Sign in through the sign-in form with ``token`` (the page ends wherever the form sends it)."""
    page.goto(server.url("/mail/signin"))
    page.get_by_label(re.compile("token", re.IGNORECASE)).fill(token)
    with page.expect_navigation():
        page.locator("form").filter(has=page.get_by_label(re.compile("token", re.IGNORECASE))).locator(
            "button[type=submit], input[type=submit], button:not([type])"
        ).first.click()


@pytest.fixture(scope="session")
def signed_in_state(playwright_session: PlaywrightSession, live_server: LiveServer) -> dict[str, Any]:
    """Sign in once through the form and keep the browser storage (the session cookie) for every test."""
    require_route("/signin", "W1")
    with playwright_loop(playwright_session):
        context = playwright_session.browser.new_context(viewport=VIEWPORT, color_scheme="light")
        try:
            page = context.new_page()
            sign_in(page, live_server)
            state: dict[str, Any] = context.storage_state()
        finally:
            context.close()
    from mcp_agent_mail.web.security import SESSION_COOKIE

    if not any(cookie["name"] == SESSION_COOKIE for cookie in state.get("cookies", [])):
        pytest.fail("signing in set no session cookie")
    return state


def _watched_page(context: Any, problems: PageProblems) -> Any:
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.on("console", problems.console)
    page.on("pageerror", problems.page_error)
    return page


@pytest.fixture
def page_problems() -> PageProblems:
    """The problems the test's pages saw (checked when the test ends)."""
    return PageProblems()


@pytest.fixture
def anonymous_page(
    browser_loop: None, playwright_session: PlaywrightSession, page_problems: PageProblems
) -> Iterator[Any]:
    """A page in a fresh context that is not signed in; fails the test on console errors or CSP violations."""
    context = playwright_session.browser.new_context(viewport=VIEWPORT, color_scheme="light")
    try:
        yield _watched_page(context, page_problems)
    finally:
        context.close()
    if page_problems.entries:
        pytest.fail("the page reported problems:\n" + "\n".join(page_problems.entries))


@pytest.fixture
def page(
    browser_loop: None,
    playwright_session: PlaywrightSession,
    signed_in_state: dict[str, Any],
    mailbox: Mailbox,
    page_problems: PageProblems,
) -> Iterator[Any]:
    """A signed-in page (1280x800, light theme) on the seeded mailbox; fails the test on console errors or
    CSP violations."""
    context = playwright_session.browser.new_context(
        viewport=VIEWPORT, color_scheme="light", storage_state=signed_in_state
    )
    context.set_default_timeout(10_000)
    try:
        yield _watched_page(context, page_problems)
    finally:
        context.close()
    if page_problems.entries:
        pytest.fail("the page reported problems:\n" + "\n".join(page_problems.entries))
