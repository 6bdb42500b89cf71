"""MCP over stdio, through real ``python -m mcp_agent_mail stdio`` processes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import mcp.types
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from mail_scenario import PROJECT, assert_coded_error, assert_coded_refusals, exchange_mail, register_pair

pytestmark = pytest.mark.slow


def _stdio_client(env: dict[str, str], log_file: Path) -> Client:
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "mcp_agent_mail", "stdio"],
        env=env,
        keep_alive=False,
        log_file=log_file,
    )
    return Client(transport, timeout=30)


async def _raw_session(env: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[dict], str]:
    """Speak JSON-RPC to a fresh stdio server by hand; return every stdout message and the stderr text."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_agent_mail",
        "stdio",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": mcp.types.LATEST_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"},
            },
        }
    ]
    requests.append({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for number, (name, arguments) in enumerate(calls, start=1):
        requests.append(
            {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        )
    try:
        messages: list[dict] = []
        for request in requests:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            await proc.stdin.drain()
            if "id" not in request:
                continue
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
                assert line, "server closed stdout early"
                message = json.loads(line)  # anything but protocol on stdout fails here
                messages.append(message)
                if message.get("id") == request["id"]:
                    break
        proc.stdin.close()
        rest, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
        for line in rest.decode().splitlines():
            messages.append(json.loads(line))
        assert proc.returncode == 0
        return messages, stderr.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_stdio_carries_the_whole_mail_journey(mailbox_env, tmp_path):
    log_file = tmp_path / "stdio-stderr.log"
    async with _stdio_client(mailbox_env, log_file) as client:
        sender, recipient = await register_pair(client)
        await assert_coded_error(client)
        await assert_coded_refusals(client)
        missing = await exchange_mail(client, sender, recipient)

        # A second stdio server on the same mailbox runs alongside the first (no exclusive lock).
        messages, stderr = await _raw_session(
            mailbox_env, [("whois", {"project_key": PROJECT, "agent_name": recipient})]
        )
        profile = messages[-1]["result"]["structuredContent"]
        assert profile["name"] == recipient
        assert all(message.get("jsonrpc") == "2.0" for message in messages)
        assert "MCP over stdio" in stderr

    logs = log_file.read_text()
    assert "mcp-agent-mail" in logs and "MCP over stdio" in logs
    if missing:
        pytest.skip(f"tools not available yet: {', '.join(missing)}")


async def test_stdio_reports_errors_with_their_code(mailbox_env):
    messages, _stderr = await _raw_session(mailbox_env, [("ensure_project", {"human_key": "not/absolute"})])
    result = messages[-1]["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("INVALID_ARGUMENT: ")


async def test_stdio_health_check_reports_no_http_address(mailbox_env):
    messages, _stderr = await _raw_session(mailbox_env, [("health_check", {})])
    report = messages[-1]["result"]["structuredContent"]
    assert report["status"] == "ok"
    assert "http_port" not in report and "http_host" not in report
