"""Hostile arguments to every tool over HTTP: never a 5xx or an internal error, always a coded refusal, no change.

The real ASGI app (``build_http_app``) runs in-process on its own event loop thread
with a real SQLite database and Git archive; calls go through ``httpx.ASGITransport``.
Every tool the server lists gets generated arguments (hypothesis) and, in a fixed
sweep, every one of its parameters gets each of :data:`strategies.SWEEP_VALUES`.
Set ``HOSTILE_EXAMPLES`` to run more generated calls by hand (e.g. 5000).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import SWEEP_VALUES, Ref, tool_calls, with_lone_surrogate

import db_kit
from mcp_agent_mail import archive
from mcp_agent_mail.archive import clear_repo_cache
from mcp_agent_mail.archive.on_disk import compare_archive, worktree_paths
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import reset_database_state
from mcp_agent_mail.http.app import build_http_app
from mcp_agent_mail.services.doctor.checks import read_connection
from mcp_agent_mail.text_guard import find_invalid_text

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "500"))  # generated calls in all, spread over the tools
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CODED = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*: \S")
CLEAN_RPC_ERRORS = {-32700, -32600, -32601, -32602}


class LoopThread:
    """An event loop running in a daemon thread; coroutines are submitted from the (sync) test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hostile-loop", daemon=True)
        self.thread.start()

    def submit(self, coro: Any) -> Future[Any]:
        """Schedule a coroutine on the loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Any, timeout: float = 120.0) -> Any:
        """Run a coroutine on the loop and return its result."""
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Seed:
    """The seeded mailbox: the values :class:`Ref` points at."""

    generation: int = 0
    pools: dict[str, list[Any]] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Replace every Ref in ``value`` by the seeded value it names."""
        if isinstance(value, Ref):
            pool = self.pools[value.kind]
            picked = pool[value.index % len(pool)]
            return f"{picked}{value.suffix}" if value.suffix else picked
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        return value


class HostileServer:
    """The HTTP app with its lifespan running, a client, and the database it writes."""

    def __init__(self, database_url: str, storage: Path) -> None:
        self.database_url = database_url
        self.storage = storage
        self.loop = LoopThread()
        self.app = build_http_app(get_settings())
        self.stop_event: asyncio.Event | None = None
        ready = threading.Event()
        self.hosting = self.loop.submit(self._host(ready))
        if not ready.wait(30):
            self.hosting.result(1)
            raise RuntimeError("the app's lifespan did not start")
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40001))
        self.client = httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8765", headers=HEADERS, timeout=120
        )
        self.seed = Seed()
        self.calls = 0
        self.outcomes: dict[str, list[int]] = {}

    async def _host(self, ready: threading.Event) -> None:
        self.stop_event = asyncio.Event()
        async with self.app.router.lifespan_context(self.app):
            ready.set()
            await self.stop_event.wait()

    def close(self) -> None:
        """Close the client, run the lifespan's exit (final archive flush) and stop the loop."""
        self.loop.run(self.client.aclose())
        if self.stop_event is not None:
            self.loop.loop.call_soon_threadsafe(self.stop_event.set)
        with contextlib.suppress(Exception):
            self.hosting.result(60)
        self.loop.close()

    def post(self, tool: str, arguments: Any) -> httpx.Response:
        """POST a ``tools/call`` (JSON with every non-ASCII character escaped, so lone surrogates travel too)."""
        self.calls += 1
        body = {
            "jsonrpc": "2.0",
            "id": self.calls,
            "method": "tools/call",
            "params": {"name": tool, "arguments": without_long_waits(tool, arguments)},
        }
        content = json.dumps(body, ensure_ascii=True).encode()
        return self.loop.run(self.client.post("/mcp/", content=content))

    def call_ok(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call a tool that must succeed; return its structured result."""
        response = self.post(tool, arguments)
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert not result.get("isError"), (tool, arguments, result)
        data = result.get("structuredContent")
        return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data

    def tools(self) -> list[dict[str, Any]]:
        """The server's tools/list."""
        body = {"jsonrpc": "2.0", "id": 0, "method": "tools/list", "params": {}}
        response = self.loop.run(self.client.post("/mcp/", json=body))
        assert response.status_code == 200, response.text
        return list(response.json()["result"]["tools"])

    def reseed(self) -> None:
        """Create two projects, agents, a thread, a reservation and a topic; point the pools at them."""
        self.seed.generation += 1
        key_a, key_b = f"/work/hostile-{self.seed.generation}", f"/work/hostile-other-{self.seed.generation}"
        slug_a = self.call_ok("ensure_project", {"human_key": key_a})["slug"]
        slug_b = self.call_ok("ensure_project", {"human_key": key_b})["slug"]
        agents = [
            self.call_ok("create_agent_identity", {"project_key": key, "program": "hostile", "model": "m"})
            for key in (key_a, key_a, key_a, key_b)
        ]
        names = [agent["name"] for agent in agents]
        tokens = [agent["registration_token"] for agent in agents]
        sent = self.call_ok(
            "send_message",
            {
                "project_key": key_a,
                "sender_name": names[0],
                "sender_token": tokens[0],
                "to": [names[1]],
                "cc": [names[2]],
                "subject": "Kickoff plan",
                "body_md": "Plan: migrate `db/schema.py`.",
                "topic": "build",
                "thread_id": "TKT-1",
            },
        )
        first = int(sent["deliveries"][0]["payload"]["id"])
        reply = self.call_ok(
            "reply_message",
            {
                "project_key": key_a,
                "message_id": first,
                "sender_name": names[1],
                "sender_token": tokens[1],
                "body_md": "Agreed.",
            },
        )
        reserved = self.call_ok(
            "file_reservation_paths",
            {
                "project_key": key_a,
                "agent_name": names[0],
                "registration_token": tokens[0],
                "paths": ["src/**"],
                "ttl_seconds": 3600,
            },
        )
        reservation_ids = [int(item["id"]) for item in reserved.get("granted", [])] or [1]
        self.seed.pools = {
            "project": [key_a, slug_a, key_b, slug_b],
            "agent": names,
            "token": tokens,
            "message": [first, int(reply["deliveries"][0]["payload"]["id"])],
            "reservation": reservation_ids,
            "thread": ["TKT-1", str(first)],
            "path": ["src/app.py", "docs/*.md", "src/**", "README.md"],
            "topic": ["build", "release"],
            "confirmation": [slug_a, key_a, "DELETE", slug_b],
        }

    def seed_intact(self) -> bool:
        """True while the seeded projects are unarchived and their agents exist and are active."""
        projects = self.seed.pools["project"][::2]
        url, names = self.database_url, self.seed.pools["agent"]
        rows = db_kit.count("projects", "archived_at IS NULL AND human_key IN :keys", url=url, keys=projects)
        active = db_kit.scalar(
            "SELECT count(*) FROM agents a JOIN projects p ON p.id = a.project_id WHERE a.retired_at IS NULL "
            "AND p.human_key IN :keys AND a.name IN :names",
            url=url,
            keys=projects,
            names=names,
        )
        return rows == 2 and active == len(names)

    def fingerprint(self) -> str:
        """A cheap digest of every table but the archive queue (long values by prefix and length)."""
        return db_kit.digest(url=self.database_url, abbreviate=True)


@pytest.fixture
def server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_database_url: Callable[[Path], str]
) -> Iterator[HostileServer]:
    """A seeded mailbox served by the in-process HTTP app."""
    database_url, storage = new_database_url(tmp_path / "hostile.sqlite3"), tmp_path / "archive"
    env = {
        "MCP_AGENT_MAIL_HOME": str(tmp_path / "home"),
        "DATABASE_URL": database_url,
        "STORAGE_ROOT": str(storage),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "8765",
        "HTTP_PATH": "/mcp/",
        "APP_ENVIRONMENT": "test",
        "LLM_ENABLED": "false",
        "LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "LOG_LEVEL": "ERROR",
        "ARCHIVE_FLUSH_INTERVAL_MS": "50",
    }
    for name in list(os.environ):
        if name.startswith(("HTTP_", "REDIS_", "AGENT_IDENTITY")):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clear_repo_cache()
    reset_database_state()
    clear_settings_cache()
    hostile = HostileServer(database_url, storage)
    try:
        hostile.reseed()
        yield hostile
    finally:
        hostile.close()
        clear_repo_cache()
        reset_database_state()


def judge(response: httpx.Response) -> tuple[bool, str]:
    """Assert the answer is a success or a clean refusal; return (refused, the refusal's text)."""
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:500]}"
    document = response.json()
    if response.status_code != 200 or "error" in document:
        error = document.get("error", {})
        assert error, f"HTTP {response.status_code} without an error body: {response.text[:500]}"
        code = error.get("code")
        assert code in CLEAN_RPC_ERRORS or isinstance(code, str), f"JSON-RPC error {code}: {error}"
        assert "INTERNAL_ERROR" not in json.dumps(error), error
        return True, json.dumps(error)[:300]
    result = document["result"]
    if not result.get("isError"):
        return False, ""
    text = " ".join(part.get("text", "") for part in result.get("content", []))
    assert not text.startswith("INTERNAL_ERROR"), text[:2000]
    assert CODED.match(text), f"uncoded refusal: {text[:500]}"
    assert " Hint: " in text, f"refusal without a hint: {text[:500]}"
    assert "Traceback" not in text, text[:2000]
    return True, text


def without_long_waits(tool: str, arguments: Any) -> Any:
    """Give ``wait_for_mail`` a zero timeout where its own would be accepted; a refused one stays as it is.

    An accepted wait blocks for its timeout (up to 300 s), which says nothing about hostile input.
    """
    if tool != "wait_for_mail" or not isinstance(arguments, dict):
        return arguments
    value = arguments.get("timeout_seconds")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if value is None or (isinstance(value, int | float) and 0 <= value <= 300):
        return {**arguments, "timeout_seconds": 0}
    return arguments


def assert_invalid_unicode(response: httpx.Response, where: str | None = None) -> None:
    """A body holding a lone surrogate is refused with 400 and INVALID_ARGUMENT naming where it is."""
    assert response.status_code == 400, response.text[:500]
    message = response.json()["error"]["message"]
    assert CODED.match(message) and message.startswith("INVALID_ARGUMENT: "), message[:500]
    assert "is not valid Unicode: it holds a lone surrogate (U+D" in message, message[:500]
    if where is not None:
        assert message.startswith(f"INVALID_ARGUMENT: {where} is not valid Unicode"), message[:500]


def _may_change_state_when_refused(arguments: Any, text: str) -> bool:
    """A refused send may still file contact requests when the caller asked for that."""
    return (
        text.startswith("CONTACT_REQUIRED")
        and isinstance(arguments, dict)
        and bool(arguments.get("auto_contact_if_blocked"))
    )


def exercise(server: HostileServer, tool: str, arguments: Any) -> None:
    """Call one tool with (resolved) arguments and check the properties."""
    if not server.seed_intact():
        server.reseed()
    resolved = server.seed.resolve(arguments)
    before = server.fingerprint()
    response = server.post(tool, resolved)
    refused, text = judge(response)
    if find_invalid_text(resolved) is not None:
        assert_invalid_unicode(response)
    server.outcomes.setdefault(tool, [0, 0])[refused] += 1
    if refused and not _may_change_state_when_refused(resolved, text):
        assert server.fingerprint() == before, f"{tool} was refused ({text[:200]}) but changed the database"


def assert_archive_sane(server: HostileServer) -> None:
    """After the storm: the queue drains, the archive equals the database's projection, nothing escaped it."""
    deadline = time.monotonic() + 60
    while archive.pending_count() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert archive.pending_count() == 0
    with read_connection(get_settings()) as conn:
        drift = compare_archive(archive.render_archive_files(conn), server.storage)
    behind = [p for p in drift.to_write + drift.extra if not p.endswith("/profile.json")]
    assert not behind, drift.details()
    for rel in worktree_paths(server.storage):
        assert rel == ".gitattributes" or rel.startswith("projects/"), rel
        assert ".." not in rel.split("/"), rel
    outside = [p.name for p in server.storage.parent.iterdir()]
    assert all(name in ("archive", "home", "hypothesis") or name.startswith("hostile.sqlite3") for name in outside), (
        outside
    )


def test_every_parameter_of_every_tool_refuses_hostile_values_cleanly(server: HostileServer) -> None:
    tools = server.tools()
    assert len(tools) >= 30
    base = _valid_arguments(server)
    swept = 0
    for tool in tools:
        name = tool["name"]
        properties = tool["inputSchema"].get("properties", {})
        valid = {k: v for k, v in base.items() if k in properties}
        for param in properties:
            for value in SWEEP_VALUES:
                exercise(server, name, {**valid, param: value})
                swept += 1
        exercise(server, name, "not an object")
        exercise(server, name, {**valid, "unexpected_parameter": 1})
    assert swept > 500
    assert_archive_sane(server)


def _valid_arguments(server: HostileServer) -> dict[str, Any]:
    pools = server.seed.pools
    return {
        "project_key": Ref("project"),
        "human_key": Ref("project"),
        "agent_name": Ref("agent"),
        "sender_name": Ref("agent"),
        "registration_token": Ref("token"),
        "sender_token": Ref("token"),
        "to": [Ref("agent", 1)],
        "subject": "Hello",
        "body_md": "Body",
        "message_id": Ref("message"),
        "query": "plan",
        "program": "p",
        "model": "m",
        "policy": "auto",
        "from_agent": Ref("agent"),
        "to_agent": Ref("agent", 1),
        "accept": True,
        "paths": ["docs/*.md"],
        "file_reservation_id": Ref("reservation"),
        "thread_id": Ref("thread"),
        "requester": Ref("agent"),
        "target": Ref("agent", 1),
        "topic_name": pools["topic"][0],
    }


def test_generated_arguments_to_every_tool_never_crash_the_server(server: HostileServer) -> None:
    tools = server.tools()
    names = {tool["name"] for tool in tools}
    assert {"send_message", "search_messages", "file_reservation_paths", "ensure_project"} <= names
    per_tool = max(10, EXAMPLES // len(tools))
    for tool in tools:
        run = settings(
            max_examples=per_tool,
            deadline=None,
            derandomize=bool(os.environ.get("CI")),
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(call=tool_calls([tool]))(lambda call: exercise(server, *call)))
        run()
    assert set(server.outcomes) == names
    accepted = sorted(tool for tool, (ok, _refused) in server.outcomes.items() if ok)
    assert len(accepted) >= len(tools) // 3, f"too few tools got past validation: {accepted}"
    assert_archive_sane(server)


def _text_parameters(tools: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(tool, parameter, is a list of strings) for every parameter of every tool that takes text."""
    found = []
    for tool in tools:
        for name, schema in tool["inputSchema"].get("properties", {}).items():
            if schema.get("type") == "string":
                found.append((tool["name"], name, False))
            elif schema.get("type") == "array" and schema.get("items", {}).get("type") == "string":
                found.append((tool["name"], name, True))
    return found


def test_a_lone_surrogate_in_any_text_argument_is_refused_by_name(server: HostileServer) -> None:
    tools = server.tools()
    properties = {tool["name"]: tool["inputSchema"].get("properties", {}) for tool in tools}
    targets = _text_parameters(tools)
    assert len(targets) > 100
    base = _valid_arguments(server)
    tried: set[tuple[str, str]] = set()

    @settings(
        max_examples=max(100, EXAMPLES // 3),
        deadline=None,
        derandomize=bool(os.environ.get("CI")),
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target=st.sampled_from(targets), text=with_lone_surrogate(), position=st.integers(0, 2))
    def check(target: tuple[str, str, bool], text: str, position: int) -> None:
        tool, param, is_list = target
        valid = {k: v for k, v in base.items() if k in properties[tool]}
        arguments = server.seed.resolve(valid)
        if is_list:
            items = ["fine", "also fine"]
            items.insert(position, text)
            arguments[param] = items
        else:
            arguments[param] = text
        before = server.fingerprint()
        response = server.post(tool, arguments)
        assert_invalid_unicode(response, f"{param}[{position}]" if is_list else param)
        assert server.fingerprint() == before, f"{tool} refused a lone surrogate in {param} but changed the database"
        tried.add((tool, param))

    check()
    assert len({tool for tool, _param in tried}) >= len(tools) // 2
