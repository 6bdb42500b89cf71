"""Oversized request bodies are refused with 413 before anything reads them: in-process, and on a real server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from http_kit import ensure_project, free_port, row_counts, serving

from mcp_agent_mail.http.body_limit import MAX_BODY_BYTES

TOKEN = "body-limit-token"
MIB = 1 << 20
HUGE = 200 * MIB


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["message"].startswith("The request body ")
    assert f"({MAX_BODY_BYTES} bytes, 4 MiB)" in error["message"]
    assert error["hint"]


async def test_a_declared_oversized_body_is_refused_and_changes_nothing(make_app, isolated_env):
    app = make_app(HTTP_BEARER_TOKEN=TOKEN)
    async with serving(app) as client:
        http = client()
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        prefix = json.dumps(ensure_project("/work/too-big")).encode()[:-1]
        over = prefix + b" " * (MAX_BODY_BYTES - len(prefix)) + b"}"
        response = await http.post("/mcp/", content=over)
        assert len(over) == MAX_BODY_BYTES + 1
        assert_too_large(response)
        assert response.headers["connection"] == "close"
        assert row_counts().get("projects", 0) == 0
        # A body of exactly the limit is served as before.
        served = await http.post("/mcp/", content=over[:-2] + b"}")
        assert served.status_code == 200, served.text
        assert served.json()["result"]["structuredContent"]["human_key"] == "/work/too-big"


async def test_a_streamed_body_without_length_is_refused_once_it_passes_the_limit(make_app, isolated_env):
    app = make_app(HTTP_BEARER_TOKEN=TOKEN)
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(64):
            pulled += 1
            yield b" " * MIB

    async with serving(app) as client:
        http = client()
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        response = await http.post("/mcp/", content=chunks())
        assert "content-length" not in response.request.headers
        assert_too_large(response)
        assert pulled <= MAX_BODY_BYTES // MIB + 2, f"the server read {pulled} MiB before refusing"
        assert row_counts().get("projects", 0) == 0


async def test_the_limit_applies_before_authentication(make_app):
    app = make_app(HTTP_BEARER_TOKEN=TOKEN)
    async with serving(app) as client:
        anonymous = client(peer=("203.0.113.9", 40009))
        response = await anonymous.post("/mcp/", content=b" " * (MAX_BODY_BYTES + 1))
        assert_too_large(response)


# --- a real server, its memory measured from /proc --------------------------------------------------------------


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def rss_kib(self) -> int:
        """The server process's resident set size, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")


def _wait_alive(server: RunningServer, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited with {server.proc.returncode}:\n{server.log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{server.port}/health/liveness", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"server not alive after {deadline_s} s:\n{server.log.read_text()}")


@pytest.fixture(scope="module")
def real_server(
    tmp_path_factory: pytest.TempPathFactory, session_database_url: Callable[[Path], str]
) -> Iterator[RunningServer]:
    """``mcp-agent-mail serve`` with a bearer token on a free 127.0.0.1 port; stopped afterwards whatever happens."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    root = tmp_path_factory.mktemp("body-limit")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTTP_", "DATABASE_", "STORAGE_", "REDIS_"))}
    env.update(
        {
            "MCP_AGENT_MAIL_HOME": str(root / "home"),
            "DATABASE_URL": session_database_url(root / "mail.sqlite3"),
            "STORAGE_ROOT": str(root / "archive"),
            "APP_ENVIRONMENT": "test",
            "HTTP_BEARER_TOKEN": TOKEN,
            "LOG_LEVEL": "WARNING",
        }
    )
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_agent_mail", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(proc, port, log)
    try:
        _wait_alive(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response with a Content-Length body; return its status and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return int(lines[0].split()[1]), body


def post_huge(port: int, total: int, *, chunked: bool) -> tuple[int, bytes, int]:
    """POST ``total`` bytes to /mcp/ with a valid token while reading the answer; return status, body, bytes sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST /mcp/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{framing}\r\n\r\n"
    )
    sent = 0
    done = threading.Event()

    def pump() -> None:
        nonlocal sent
        block = b" " * MIB
        piece = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
        try:
            sock.sendall(head.encode())
            while sent < total and not done.is_set():
                sock.sendall(piece)
                sent += len(block)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection after refusing: what we hope for

    sender = threading.Thread(target=pump, name="huge-body", daemon=True)
    sender.start()
    try:
        status, body = _read_response(sock)
    finally:
        done.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        sender.join(timeout=30)
    return status, body, sent


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_200_mib_post_costs_the_server_no_memory(real_server, chunked):
    # Warm up: a call served in full, then a refusal, so lazy start-up allocations are behind us.
    ok = httpx.post(
        f"http://127.0.0.1:{real_server.port}/mcp/",
        timeout=30,
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "health_check", "arguments": {}}},
    )
    assert ok.status_code == 200, ok.text
    assert post_huge(real_server.port, 8 * MIB, chunked=chunked)[0] == 413

    before = real_server.rss_kib()
    status, body, sent = post_huge(real_server.port, HUGE, chunked=chunked)
    after = real_server.rss_kib()
    assert status == 413, body
    assert after - before < 10 * 1024, f"server RSS grew by {(after - before) // 1024} MiB"
    assert sent < HUGE, "the server read the whole body before refusing it"
    assert b"PAYLOAD_TOO_LARGE" in body
    assert real_server.proc.poll() is None
