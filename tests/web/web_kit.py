"""Helpers for web UI tests: a mailbox made through the real services, ASGI clients, CSRF tokens, row counts.

Other web tests import these (``from web_kit import ...``); the fixtures in ``conftest.py`` wrap them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette

import db_kit
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message

LOCAL_PEER = ("127.0.0.1", 40001)
REMOTE_PEER = ("203.0.113.7", 40002)
LOCAL_BASE = "http://127.0.0.1:8765"
TOKEN = "web-test-token-0123456789"
PROJECT = "/work/web-alpha"
OTHER = "/work/web-beta"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")
OTHER_AGENTS = ("PurpleHill",)
WEB_ENV = (
    "HTTP_BEARER_TOKEN",
    "HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED",
    "HTTP_ALLOWED_ORIGINS",
    "HTTP_JWT_ENABLED",
    "HTTP_JWT_SECRET",
    "HTTP_JWT_ALGORITHMS",
    "HTTP_JWT_ROLE_CLAIM",
    "HTTP_RBAC_ENABLED",
    "HTTP_RBAC_DEFAULT_ROLE",
    "HTTP_WEB_SESSION_SECRET",
    "HTTP_WEB_SESSION_HOURS",
    "HTTP_RATE_LIMIT_ENABLED",
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebMailbox:
    """What the tests set up: project slugs, message ids by name, and plain-SQL looks at the database."""

    def __init__(self, slugs: dict[str, str]) -> None:
        self.slugs = slugs
        self.ids: dict[str, int] = {}

    @property
    def slug(self) -> str:
        """Return the main project's slug."""
        return self.slugs[PROJECT]

    @property
    def other_slug(self) -> str:
        """Return the second project's slug."""
        return self.slugs[OTHER]

    def rows(self, sql: str, /, **params: Any) -> list[tuple[Any, ...]]:
        """Run one query (named ``:parameters``) on the database and return every row."""
        return db_kit.query(sql, **params)

    def unread(self, agent: str) -> int:
        """Return how many messages ``agent`` (in any project) has not read."""
        sql = (
            "SELECT count(*) FROM message_recipients r JOIN agents a ON a.id = r.agent_id "
            "WHERE a.name = :name AND r.read_ts IS NULL"
        )
        return int(self.rows(sql, name=agent)[0][0])

    def receipts(self) -> list[tuple[Any, ...]]:
        """Return every recipient row's read and ack times (to prove a refused request changed nothing)."""
        return self.rows("SELECT message_id, agent_id, read_ts, ack_ts FROM message_recipients ORDER BY 1, 2")

    async def send(self, sender: str, to: list[str], subject: str, *, project: str = PROJECT, **extra: Any) -> int:
        """Send a message through the real service; return its id."""
        body = extra.pop("body_md", f"Body of {subject}.")
        result = await send_message(project, sender, to, subject, body, **extra)
        message_id = int(result["deliveries"][0]["payload"]["id"])
        self.ids[subject] = message_id
        return message_id


async def make_web_mailbox() -> WebMailbox:
    """Two projects, four agents and a few messages (a thread, a cc, a bcc, an urgent one needing an ack)."""
    slugs = {}
    for key, names in ((PROJECT, AGENTS), (OTHER, OTHER_AGENTS)):
        slugs[key] = (await ensure_project(key))["slug"]
        for name in names:
            await register_agent(key, "pytest", "test-model", name=name)
            await set_contact_policy(key, name, "open")
    box = WebMailbox(slugs)
    first = await box.send("BlueLake", ["RedFox"], "Plan for the parser", body_md="# Plan\n\nWe **split** it.")
    await box.send("RedFox", ["BlueLake"], "Re: Plan for the parser", thread_id=str(first))
    await box.send(
        "BlueLake",
        ["RedFox"],
        "Release blocker",
        cc=["GreenCastle"],
        importance="urgent",
        ack_required=True,
    )
    await box.send("GreenCastle", ["RedFox"], "Quiet note", bcc=["BlueLake"])
    await box.send("PurpleHill", ["PurpleHill"], "Elsewhere note", project=OTHER)
    return box


def csrf_from(html: str) -> str:
    """Return the CSRF token of the first form on a page (fails the test when the page has none)."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a csrf_token"
    return found.group(1)


@contextlib.asynccontextmanager
async def web_client(
    app: Starlette,
    *,
    peer: tuple[str, int] = LOCAL_PEER,
    base_url: str = LOCAL_BASE,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an ASGI client on ``app`` from ``peer`` (with ``Authorization: Bearer token`` when given)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    transport = httpx.ASGITransport(app=app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=sent) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    """Sign in through the form (fetching its CSRF token first); return the POST's response."""
    page = await client.get("/mail/signin")
    return await client.post("/mail/signin", data={"token": token, "csrf_token": csrf_from(page.text)})
