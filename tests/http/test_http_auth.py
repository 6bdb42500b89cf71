"""Authentication: the laptop default, the static bearer token, the localhost opt-in, forwarding headers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from http_kit import JSON_HEADERS, LOCAL, REMOTE, assert_refused, ensure_project, free_port, health, row_counts, serving

from mcp_agent_mail.errors import ConfigurationError

TOKEN = "s3cret-team-token"


async def test_without_auth_configured_only_direct_loopback_requests_are_served(make_app, isolated_env):
    app = make_app()
    async with serving(app) as client:
        ok = await client(LOCAL).post("/mcp/", json=ensure_project())
        assert ok.status_code == 200 and ok.json()["result"]["structuredContent"]["slug"] == "work-http-protect"
        before = row_counts()

        remote = await client(REMOTE).post("/mcp/", json=ensure_project("/work/other"))
        error = assert_refused(remote, 401, "UNAUTHORIZED")
        assert "HTTP_BEARER_TOKEN" in error["hint"]
        assert remote.headers["www-authenticate"].startswith("Bearer")

        proxied = await client(LOCAL).post(
            "/mcp/", json=ensure_project("/work/other"), headers={"X-Forwarded-For": "198.51.100.4"}
        )
        assert_refused(proxied, 401, "UNAUTHORIZED")
    assert row_counts() == before


async def test_bearer_token_is_required_from_everyone_by_default(make_app, isolated_env):
    app = make_app(HTTP_BEARER_TOKEN=TOKEN)
    async with serving(app) as client:
        missing = await client(LOCAL).post("/mcp/", json=ensure_project())
        error = assert_refused(missing, 401, "UNAUTHORIZED")
        assert "Authorization: Bearer" in error["hint"]
        assert missing.headers["www-authenticate"] == 'Bearer realm="mcp-agent-mail"'

        wrong = await client(REMOTE).post("/mcp/", json=ensure_project(), headers={"Authorization": "Bearer nope"})
        assert_refused(wrong, 401, "UNAUTHORIZED")
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]

        basic = await client(REMOTE).post("/mcp/", json=ensure_project(), headers={"Authorization": f"Basic {TOKEN}"})
        assert_refused(basic, 401, "UNAUTHORIZED")
        assert row_counts().get("projects", 0) == 0

        good = await client(REMOTE).post("/api/", json=ensure_project(), headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200, good.text
        assert good.json()["result"]["structuredContent"]["human_key"] == "/work/http-protect"


async def test_localhost_opt_in_never_applies_to_forwarded_requests(make_app):
    app = make_app(HTTP_BEARER_TOKEN=TOKEN, HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED="true")
    async with serving(app) as client:
        assert (await client(LOCAL).post("/mcp/", json=health())).status_code == 200
        assert (await client(("::1", 4000)).post("/mcp/", json=health())).status_code == 200
        for name, value in (
            ("Forwarded", "for=198.51.100.4"),
            ("X-Forwarded-For", "198.51.100.4"),
            ("X-Real-IP", "198.51.100.4"),
            ("X-Forwarded-Host", "mail.example.com"),
        ):
            response = await client(LOCAL).post("/mcp/", json=health(), headers={name: value})
            assert_refused(response, 401, "UNAUTHORIZED")
        assert_refused(await client(REMOTE).post("/mcp/", json=health()), 401, "UNAUTHORIZED")


async def test_local_requests_must_name_this_machine_in_host(make_app):
    app = make_app()
    async with serving(app) as client:
        rebound = await client(LOCAL).post("/mcp/", json=health(), headers={"Host": "attacker.example:8765"})
        assert_refused(rebound, 403, "FORBIDDEN")
        named = await client(LOCAL).post("/mcp/", json=health(), headers={"Host": "localhost:8765"})
        assert named.status_code == 200


async def test_health_probes_stay_open(make_app):
    app = make_app(HTTP_BEARER_TOKEN=TOKEN)
    async with serving(app) as client:
        remote = client(REMOTE)
        assert (await remote.get("/health/liveness")).json() == {"status": "alive"}
        assert (await remote.get("/health/readiness")).json()["status"] == "ready"
        assert_refused(await remote.get("/mcp/"), 401, "UNAUTHORIZED")


def test_refuses_to_listen_beyond_loopback_without_authentication(make_app):
    with pytest.raises(ConfigurationError) as caught:
        make_app(HTTP_HOST="0.0.0.0")
    assert "HTTP_BEARER_TOKEN" in caught.value.hint
    assert make_app(HTTP_HOST="0.0.0.0", HTTP_BEARER_TOKEN=TOKEN) is not None
    assert make_app(HTTP_HOST="0.0.0.0", HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED="true") is not None


@pytest.fixture
def bearer_server(tmp_path: Path, new_database_url: Callable[[Path], str]) -> Iterator[tuple[str, Path]]:
    """A real ``python -m mcp_agent_mail.http`` (the CLI's serve) with a bearer token, on a free port."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HTTP_", "DATABASE_", "STORAGE_"))}
    env.update(
        MCP_AGENT_MAIL_HOME=str(tmp_path / "home"),
        DATABASE_URL=new_database_url(tmp_path / "mailbox.sqlite3"),
        STORAGE_ROOT=str(tmp_path / "archive"),
        HTTP_BEARER_TOKEN=TOKEN,
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_agent_mail.http", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health/liveness", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield base, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.slow
async def test_real_server_with_bearer_token(bearer_server):
    base, log = bearer_server
    refused = httpx.post(f"{base}/mcp/", json=health(), headers=JSON_HEADERS, timeout=10)
    assert_refused(refused, 401, "UNAUTHORIZED")
    async with Client(f"{base}/mcp/", auth=TOKEN, timeout=30) as client:
        project = (await client.call_tool("ensure_project", {"human_key": "/work/bearer-demo"})).data
    assert project["slug"] == "work-bearer-demo"
    assert "refused POST /mcp/ from 127.0.0.1: 401 UNAUTHORIZED" in log.read_text()
