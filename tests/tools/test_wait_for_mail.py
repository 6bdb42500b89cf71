"""wait_for_mail: answers as soon as new mail arrives, or empty-handed at the timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.services.mail.arrivals import arrivals
from wait_kit import async_wait_until, wait_until

PROJECT = "/work/wait-test"
WAIT_S = 15.0


async def two_agents(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create the project and two agents; return their registrations (name, registration_token)."""
    await client.call_tool("ensure_project", {"human_key": PROJECT})
    created = []
    for hint in ("BlueLake", "RedFox"):
        args = {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": hint}
        created.append((await client.call_tool("create_agent_identity", args)).data)
    return created[0], created[1]


async def send(client: Client, sender: str, to: str, subject: str) -> dict[str, Any]:
    """Send one message and return the send result."""
    args = {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": subject, "body_md": "Body text."}
    return dict((await client.call_tool("send_message", args)).data)


async def wait(client: Client, agent: str, **args: Any) -> dict[str, Any]:
    """Call wait_for_mail for ``agent`` and return its result."""
    return dict((await client.call_tool("wait_for_mail", {"project_key": PROJECT, "agent_name": agent, **args})).data)


@pytest.fixture
def server(isolated_env: Any) -> Any:
    """A server on the test's database."""
    return build_mcp_server()


async def test_wakes_with_the_new_message_when_it_arrives(server: Any) -> None:
    async with Client(server) as c:
        blue, red = await two_agents(c)
        await send(c, red["name"], blue["name"], "Old news")
        waiting = asyncio.create_task(wait(c, blue["name"], timeout_seconds=60))
        hub = arrivals()
        await async_wait_until(hub.watched, WAIT_S, message="the call never waited")
        assert not waiting.done()
        await send(c, red["name"], blue["name"], "Fresh news")
        result = await asyncio.wait_for(waiting, WAIT_S)
    assert result["timed_out"] is False
    assert [m["subject"] for m in result["messages"]] == ["Fresh news"]
    message = result["messages"][0]
    assert message["from"] == red["name"] and message["kind"] == "to" and "body_md" not in message
    assert not arrivals().watched()


async def test_timeout_returns_no_messages(server: Any) -> None:
    async with Client(server) as c:
        blue, red = await two_agents(c)
        await send(c, red["name"], blue["name"], "Before the call")
        result = await wait(c, blue["name"], timeout_seconds=0)
    assert result["timed_out"] is True
    assert not result.get("messages")
    assert not arrivals().watched()


async def test_mail_newer_than_since_ts_is_returned_at_once(server: Any) -> None:
    async with Client(server) as c:
        blue, red = await two_agents(c)
        before = "2000-01-01T00:00:00+00:00"
        await send(c, red["name"], blue["name"], "First")
        await send(c, red["name"], blue["name"], "Second")
        result = await wait(c, blue["name"], timeout_seconds=300, since_ts=before)
        assert [m["subject"] for m in result["messages"]] == ["Second", "First"]
        newest = result["messages"][0]["created_ts"]
        assert (await wait(c, blue["name"], timeout_seconds=0, since_ts=newest))["timed_out"] is True


@pytest.mark.parametrize("bad", [-1, 301, "soon", float("inf")])
async def test_bad_timeout_is_invalid_argument_and_changes_nothing(server: Any, bad: Any) -> None:
    async with Client(server) as c:
        blue, _ = await two_agents(c)
        before = db_kit.digest()
        with pytest.raises(ToolError) as caught:
            await wait(c, blue["name"], timeout_seconds=bad)
    text = str(caught.value)
    assert text.startswith("INVALID_ARGUMENT: ") and "timeout_seconds" in text and "Hint:" in text
    assert db_kit.digest() == before
    assert not arrivals().watched()


async def test_unknown_agent_and_bad_since_ts_are_coded(server: Any) -> None:
    async with Client(server) as c:
        blue, _ = await two_agents(c)
        with pytest.raises(ToolError, match=r"^NOT_FOUND: "):
            await wait(c, "NoSuchAgent", timeout_seconds=1)
        with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*since_ts"):
            await wait(c, blue["name"], timeout_seconds=1, since_ts="yesterday")


async def test_strict_mode_needs_the_agents_token_like_fetch_inbox(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_agent_mail.config import clear_settings_cache

    async with Client(server) as c:
        blue, _ = await two_agents(c)
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    async with Client(server) as c:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: "):
            await wait(c, blue["name"], timeout_seconds=0)
        token = blue["registration_token"]
        assert (await wait(c, blue["name"], timeout_seconds=0, registration_token=token))["timed_out"] is True


# -- a real HTTP server, and mail from another process ---------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path, new_database_url: Any) -> Iterator[tuple[str, dict[str, str]]]:
    """Run ``mcp-agent-mail serve`` on a free port; yield its MCP URL and environment; stop it afterwards."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HTTP_", "DATABASE_", "STORAGE_"))}
    env.update(
        MCP_AGENT_MAIL_HOME=str(tmp_path / "home"),
        DATABASE_URL=new_database_url(tmp_path / "mailbox.sqlite3"),
        STORAGE_ROOT=str(tmp_path / "archive"),
        APP_ENVIRONMENT="test",
        PYTHONUNBUFFERED="1",
    )
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_agent_mail", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def alive() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/health/liveness", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(alive, 30, interval=0.1, message="the server did not start")
        yield f"{base}/mcp/", env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
async def test_wait_over_http_wakes_when_another_process_sends(http_server: tuple[str, dict[str, str]]) -> None:
    url, env = http_server
    transport = StdioTransport(
        command=sys.executable, args=["-m", "mcp_agent_mail", "stdio"], env=env, keep_alive=False
    )
    async with Client(url, timeout=60) as http, Client(transport, timeout=60) as other:
        blue, red = await two_agents(http)
        await send(http, red["name"], blue["name"], "Old news")
        (old,) = (await wait(http, blue["name"], timeout_seconds=0, since_ts="2000-01-01T00:00:00Z"))["messages"]
        # since_ts makes the answer independent of when the wait starts; the pause only lets it start first.
        waiting = asyncio.create_task(wait(http, blue["name"], timeout_seconds=120, since_ts=old["created_ts"]))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await send(other, red["name"], blue["name"], "From the stdio process")
        result = await asyncio.wait_for(waiting, 30)
        assert [m["subject"] for m in result["messages"]] == ["From the stdio process"]
        assert (await wait(http, blue["name"], timeout_seconds=0.2))["timed_out"] is True
