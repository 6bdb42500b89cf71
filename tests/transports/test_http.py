"""MCP over Streamable HTTP: a real ``mcp-agent-mail serve`` process, and the ASGI app in-process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from mail_scenario import (
    PROJECT,
    SUBJECT,
    assert_coded_error,
    assert_coded_refusals,
    exchange_mail,
    free_port,
    make_mailbox_env,
    register_pair,
)
from starlette.testclient import TestClient

import db_kit
from mcp_agent_mail.http.app import build_http_app

TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "ensure_project", "arguments": {"human_key": PROJECT}},
}
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class ServerProcess:
    """A running ``mcp-agent-mail serve`` and where to reach it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path, env: dict[str, str]) -> None:
        self.proc = proc
        self.env = env
        self.base = f"http://127.0.0.1:{port}"
        self.log = log


def _wait_until_alive(server: ServerProcess, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited with {server.proc.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.base}/health/liveness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not alive after {deadline_s} s:\n{server.log.read_text()}")


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, session_database_url: Callable[[Path], str]
) -> Iterator[ServerProcess]:
    """Start one HTTP server for the module on a free port; always stop it afterwards."""
    root = tmp_path_factory.mktemp("http-server")
    port = free_port()
    log = root / "server.log"
    env = make_mailbox_env(root, session_database_url(root / "mailbox.sqlite3"))
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_agent_mail", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = ServerProcess(proc, port, log, env)
    try:
        _wait_until_alive(running)
        yield running
    finally:
        code = _stop(proc)
    assert code in (0, -signal.SIGTERM), f"server did not shut down cleanly on SIGTERM:\n{log.read_text()}"
    assert "Application shutdown complete" in log.read_text()
    url = env["DATABASE_URL"]
    assert db_kit.pending_outbox(url=url) == 0, "archive queue not drained"
    sent = db_kit.count("messages", "subject = :subject", url=url, subject=SUBJECT)
    if sent:
        assert any(SUBJECT in path.read_text() for path in (root / "archive").rglob("*.md")), "message not archived"


@pytest.mark.slow
async def test_http_carries_the_whole_mail_journey(server):
    async with Client(f"{server.base}/mcp/", timeout=30) as client:
        sender, recipient = await register_pair(client)
        await assert_coded_error(client)
        await assert_coded_refusals(client)
        missing = await exchange_mail(client, sender, recipient)
    if missing:
        pytest.skip(f"tools not available yet: {', '.join(missing)}")


@pytest.mark.slow
async def test_api_path_serves_the_same_mailbox(server):
    async with Client(f"{server.base}/api/", timeout=30) as client:
        via_api = (await client.call_tool("ensure_project", {"human_key": "/work/alias-check"})).data
    async with Client(f"{server.base}/mcp/", timeout=30) as client:
        via_mcp = (await client.call_tool("ensure_project", {"human_key": "/work/alias-check"})).data
    assert via_api["id"] == via_mcp["id"]


@pytest.mark.slow
def test_plain_json_rpc_call_needs_no_session(server):
    for path in ("/api/", "/mcp/", "/mcp"):
        response = httpx.post(f"{server.base}{path}", json=TOOL_CALL, headers=JSON_HEADERS, timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["result"]["structuredContent"]["human_key"] == PROJECT


@pytest.mark.slow
def test_health_endpoints_of_running_server(server):
    alive = httpx.get(f"{server.base}/health/liveness", timeout=5)
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}
    ready = httpx.get(f"{server.base}/health/readiness", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["archive_pending"] >= 0
    assert "MCP over HTTP at http://127.0.0.1:" in server.log.read_text()


@pytest.mark.slow
def test_running_server_is_visible_to_maintenance_commands(server, monkeypatch):
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.errors import ServerRunningError
    from mcp_agent_mail.services.recovery.server_registry import exclusive_mailbox, running_servers

    for name in ("MCP_AGENT_MAIL_HOME", "DATABASE_URL", "STORAGE_ROOT"):
        monkeypatch.setenv(name, server.env[name])
    settings = get_settings()
    assert {entry["pid"] for entry in running_servers(settings)} == {server.proc.pid}
    with pytest.raises(ServerRunningError), exclusive_mailbox(settings):
        pass


@pytest.mark.slow
def test_errors_over_http_start_with_their_code(server):
    call = {**TOOL_CALL, "params": {"name": "ensure_project", "arguments": {"human_key": "rel/path"}}}
    result = httpx.post(f"{server.base}/mcp/", json=call, headers=JSON_HEADERS, timeout=10).json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("INVALID_ARGUMENT: ")


@pytest.mark.slow
def test_lone_surrogates_over_http_are_invalid_argument_naming_the_parameter(server):
    call = {**TOOL_CALL, "params": {"name": "ensure_project", "arguments": {"human_key": "/work/\ud800"}}}
    response = httpx.post(f"{server.base}/mcp/", content=json.dumps(call).encode(), headers=JSON_HEADERS, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32602
    assert error["message"].startswith("INVALID_ARGUMENT: human_key is not valid Unicode")


def test_in_process_app_runs_lifespan_and_serves_both_paths(isolated_env):
    # The app serves direct loopback peers without credentials when no authentication is configured.
    with TestClient(build_http_app(), base_url="http://127.0.0.1:8765", client=("127.0.0.1", 50000)) as client:
        assert client.get("/health/liveness").json() == {"status": "alive"}
        ready = client.get("/health/readiness")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        for path in ("/mcp/", "/api/"):
            response = client.post(path, json=TOOL_CALL, headers=JSON_HEADERS)
            assert response.json()["result"]["structuredContent"]["slug"] == "work-transport-demo"


async def test_readiness_is_503_when_the_database_cannot_open(isolated_env, monkeypatch):
    from mcp_agent_mail.config import clear_settings_cache
    from mcp_agent_mail.db import reset_database_state

    monkeypatch.setenv("DATABASE_URL", db_kit.unusable_url(isolated_env["tmp_path"]))
    reset_database_state()
    clear_settings_cache()
    transport = httpx.ASGITransport(app=build_http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        ready = await client.get("/health/readiness")
        alive = await client.get("/health/liveness")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and ready.json()["code"] == "UNAVAILABLE"
    assert alive.status_code == 200


@pytest.mark.slow
def test_running_server_says_where_it_serves_where_data_lives_and_how_to_connect(server):
    log = server.log.read_text()
    url = f"{server.base}/mcp/"
    assert f"MCP over HTTP at {url}" in log
    backend = "sqlite" if db_kit.on_sqlite(server.env["DATABASE_URL"]) else "postgresql"
    assert f" | database {backend}" in log and " | archive " in log
    assert f"claude mcp add --transport http mcp-agent-mail {url}" in log
