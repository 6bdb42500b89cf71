"""Resource subscriptions: a subscribed inbox is told about new mail, whichever process stored it."""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from mcp import MCPError
from mcp.client.subscriptions import ResourceUpdated, listen

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.services.mail.arrivals import arrivals
from wait_kit import async_wait_until

PROJECT = "/work/subscription-test"
UPDATED = "notifications/resources/updated"
LIST_CHANGED = "notifications/resources/list_changed"
WAIT_S = 15.0


class Inbox:
    """Collects the server's notifications of one client."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, message: Any) -> None:
        """Record (method, uri) of every server notification."""
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if isinstance(method, str):
            params = getattr(root, "params", None)
            self.seen.append((method, str(getattr(params, "uri", "")) or None))

    def updates(self, uri: str) -> int:
        """Return how many times ``uri`` was reported updated."""
        return self.seen.count((UPDATED, uri))


async def subscribe(client: Client, uri: str) -> None:
    """Send resources/subscribe (the handshake-era request)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await client.session.subscribe_resource(uri)


async def unsubscribe(client: Client, uri: str) -> None:
    """Send resources/unsubscribe."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await client.session.unsubscribe_resource(uri)


async def two_agents(client: Client) -> tuple[str, str]:
    """Create the project and two agents; return their names."""
    await client.call_tool("ensure_project", {"human_key": PROJECT})
    names = []
    for hint in ("BlueLake", "RedFox"):
        args = {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": hint}
        names.append((await client.call_tool("create_agent_identity", args)).data["name"])
    return names[0], names[1]


async def send(client: Client, sender: str, to: str, subject: str = "Build is green") -> int:
    """Send one message; return its id."""
    args = {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": subject, "body_md": "Details."}
    result = (await client.call_tool("send_message", args)).data
    return int(result["deliveries"][0]["payload"]["id"])


def inbox_uri(agent: str) -> str:
    """Return the subscribable inbox URI of ``agent``."""
    return f"resource://inbox/{agent}?project={PROJECT}"


@pytest.fixture
async def server(isolated_env: Any) -> AsyncIterator[Any]:
    """A server on the test's database."""
    yield build_mcp_server()


async def test_server_advertises_subscriptions_in_both_protocol_eras(server: Any) -> None:
    async with Client(server, mode="legacy") as legacy:
        capabilities = legacy.initialize_result.capabilities.resources
        assert capabilities is not None and capabilities.subscribe and capabilities.list_changed
    async with Client(server) as modern:
        assert modern.protocol_version == "2026-07-28"
        discovered = await modern.session.send_discover("2026-07-28")
        assert discovered["capabilities"]["resources"]["subscribe"] is True


async def test_subscribed_inbox_is_told_of_new_mail_and_nothing_else(server: Any) -> None:
    watcher = Inbox()
    async with Client(server, mode="legacy") as sender, Client(server, mode="legacy", message_handler=watcher) as c:
        blue, red = await two_agents(sender)
        await subscribe(c, inbox_uri(blue))
        await send(sender, red, blue)
        await async_wait_until(lambda: watcher.updates(inbox_uri(blue)), WAIT_S, message="no update for Blue")
        # Mail Blue sends (and mail to others) does not touch Blue's inbox.
        await send(sender, blue, red, "Reply")
        await subscribe(c, inbox_uri(red))
        await send(sender, blue, red, "Another")
        await async_wait_until(lambda: watcher.updates(inbox_uri(red)), WAIT_S, message="no update for Red")
        assert watcher.updates(inbox_uri(blue)) == 1


async def test_unsubscribed_session_gets_nothing(server: Any) -> None:
    quiet, loud = Inbox(), Inbox()
    async with (
        Client(server, mode="legacy") as sender,
        Client(server, mode="legacy", message_handler=quiet) as left,
        Client(server, mode="legacy", message_handler=loud) as stayed,
    ):
        blue, red = await two_agents(sender)
        for client in (left, stayed):
            await subscribe(client, inbox_uri(blue))
        await unsubscribe(left, inbox_uri(blue))
        await send(sender, red, blue)
        await async_wait_until(lambda: loud.updates(inbox_uri(blue)), WAIT_S, message="no update")
        await left.ping()
        assert quiet.updates(inbox_uri(blue)) == 0


async def test_subscriptions_end_with_their_session(server: Any) -> None:
    async with Client(server, mode="legacy") as sender:
        blue, _ = await two_agents(sender)
        async with Client(server, mode="legacy") as c:
            await subscribe(c, inbox_uri(blue))
            await subscribe(c, f"resource://mailbox/{blue}?project={PROJECT}")
            assert arrivals().watched()
        await async_wait_until(lambda: not arrivals().watched(), WAIT_S, message="subscriptions outlived the session")
        assert not arrivals().active()


async def test_new_agent_sends_resource_list_changed(server: Any) -> None:
    watcher = Inbox()
    async with Client(server, mode="legacy") as sender, Client(server, mode="legacy", message_handler=watcher) as c:
        blue, _ = await two_agents(sender)
        await subscribe(c, inbox_uri(blue))
        args = {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": "GreenCastle"}
        await sender.call_tool("create_agent_identity", args)
        await async_wait_until(lambda: (LIST_CHANGED, None) in watcher.seen, WAIT_S, message="no list_changed")


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("resource://projects", "INVALID_ARGUMENT: "),
        ("resource://outbox/BlueLake?project=" + PROJECT, "INVALID_ARGUMENT: "),
        ("resource://inbox/BlueLake", "INVALID_ARGUMENT: "),
        ("resource://inbox/NoSuchAgent?project=" + PROJECT, "NOT_FOUND: "),
    ],
)
async def test_subscribing_to_what_cannot_be_watched_is_a_coded_error(server: Any, uri: str, code: str) -> None:
    async with Client(server, mode="legacy") as c:
        await two_agents(c)
        with pytest.raises(MCPError) as caught:
            await subscribe(c, uri)
        assert str(caught.value).startswith(code), caught.value
        assert "Hint:" in str(caught.value)
        assert not arrivals().watched()


async def test_strict_mode_needs_the_agents_token_to_subscribe(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_agent_mail.config import clear_settings_cache

    async with Client(server, mode="legacy") as setup:
        blue, _ = await two_agents(setup)
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    async with Client(server, mode="legacy") as c:
        with pytest.raises(MCPError) as caught:
            await subscribe(c, inbox_uri(blue))
    assert str(caught.value).startswith("UNAUTHORIZED: ")


async def test_listen_stream_of_2026_clients_reports_new_mail(server: Any) -> None:
    async with Client(server, mode="legacy") as sender, Client(server) as modern:
        blue, red = await two_agents(sender)
        uri = inbox_uri(blue)
        async with listen(modern.session, resource_subscriptions=[uri]) as stream:
            await send(sender, red, blue)
            event = await asyncio.wait_for(anext(aiter(stream)), WAIT_S)
        assert event == ResourceUpdated(uri=uri)
        await async_wait_until(lambda: not arrivals().watched(), WAIT_S, message="watch outlived stream")


def _stdio(env: dict[str, str], log: Path, handler: Inbox | None = None) -> Client:
    transport = StdioTransport(
        command=sys.executable, args=["-m", "mcp_agent_mail", "stdio"], env=env, keep_alive=False, log_file=log
    )
    return Client(transport, timeout=30, mode="legacy", message_handler=handler)


@pytest.mark.slow
async def test_stdio_subscriber_hears_of_mail_sent_through_another_server_process(
    mailbox_env: dict[str, str], tmp_path: Path
) -> None:
    watcher = Inbox()
    async with _stdio(mailbox_env, tmp_path / "sender.log") as sender:
        blue, red = await two_agents(sender)
        async with _stdio(mailbox_env, tmp_path / "watcher.log", watcher) as c:
            await subscribe(c, inbox_uri(blue))
            await send(sender, red, blue)
            await async_wait_until(lambda: watcher.updates(inbox_uri(blue)), WAIT_S, message="no update over stdio")
            assert watcher.updates(inbox_uri(blue)) == 1


@pytest.fixture
def mailbox_env(tmp_path: Path, new_database_url: Any) -> dict[str, str]:
    """A process environment with its own mailbox on the run's backend (files under ``tmp_path``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HTTP_", "DATABASE_", "STORAGE_"))}
    env.update(
        MCP_AGENT_MAIL_HOME=str(tmp_path / "home"),
        DATABASE_URL=new_database_url(tmp_path / "mailbox.sqlite3"),
        STORAGE_ROOT=str(tmp_path / "archive"),
        APP_ENVIRONMENT="test",
        PYTHONUNBUFFERED="1",
    )
    return env
