"""``stdio`` answers ``initialize`` from the server's last answer while it loads, and carries everything else."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_agent_mail.cli.stdio_relay import CACHE_FILE, stamp

pytestmark = pytest.mark.slow

EXECUTABLE = str(Path(sys.executable).parent / "mcp-agent-mail")
VERSION = "2025-06-18"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "relay-test", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
HEALTH = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "health_check", "arguments": {}}}


async def session(env: dict[str, str]) -> list[dict[str, Any]]:
    """Initialise a fresh stdio server, call health_check, close stdin; return every message it wrote."""
    proc = await asyncio.create_subprocess_exec(
        EXECUTABLE,
        "stdio",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    messages: list[dict[str, Any]] = []

    async def until(wanted: int) -> None:
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)  # type: ignore[union-attr]
            assert line, "the server closed stdout early"
            messages.append(json.loads(line))
            if messages[-1].get("id") == wanted:
                return

    for request, wanted in ((INITIALIZE, 0), (INITIALIZED, None), (HEALTH, 1)):
        proc.stdin.write((json.dumps(request) + "\n").encode())
        await proc.stdin.drain()
        if wanted is not None:
            await until(wanted)
    proc.stdin.close()
    rest, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    messages += [json.loads(line) for line in rest.decode().splitlines()]
    assert proc.returncode == 0
    return messages


@pytest.fixture
def env(isolated_env: dict[str, Path]) -> dict[str, str]:
    return {**os.environ, "MCP_AGENT_MAIL_HOME": str(isolated_env["tmp_path"] / "home")}


async def test_the_first_start_records_the_answer_and_the_next_gives_it_at_once(env: dict[str, str]) -> None:
    first = await session(env)
    answers = [m for m in first if m.get("id") == 0]
    assert len(answers) == 1 and answers[0]["result"]["serverInfo"]["name"] == "mcp-agent-mail"
    cache = Path(env["MCP_AGENT_MAIL_HOME"]) / CACHE_FILE
    assert list(json.loads(cache.read_text()).values()) == [answers[0]["result"]]
    second = await session(env)
    again = [m for m in second if m.get("id") == 0]
    assert again == answers  # one answer, the same one
    health = [m for m in second if m.get("id") == 1]
    assert len(health) == 1 and "result" in health[0]


async def test_the_early_answer_comes_from_the_store_and_the_servers_own_is_not_repeated(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", env["MCP_AGENT_MAIL_HOME"])
    home = Path(env["MCP_AGENT_MAIL_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    stored = {"protocolVersion": VERSION, "capabilities": {}, "serverInfo": {"name": "stored", "version": "0"}}
    (home / CACHE_FILE).write_text(json.dumps({f"{stamp(None)}|{VERSION}": stored}))
    messages = await session(env)
    assert [m["result"] for m in messages if m.get("id") == 0] == [stored]
    assert next(m for m in messages if m.get("id") == 1)["result"]
    # The server's real answer replaced the stored one for the next start.
    kept = json.loads((home / CACHE_FILE).read_text())
    assert next(iter(kept.values()))["serverInfo"]["name"] == "mcp-agent-mail"


async def test_another_protocol_version_is_not_answered_from_the_store(env: dict[str, str]) -> None:
    home = Path(env["MCP_AGENT_MAIL_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / CACHE_FILE).write_text(json.dumps({f"{stamp(None)}|1999-01-01": {"serverInfo": {"name": "stale"}}}))
    messages = await session(env)
    answers = [m for m in messages if m.get("id") == 0]
    assert len(answers) == 1 and answers[0]["result"]["serverInfo"]["name"] == "mcp-agent-mail"
