"""Load test: N concurrent agents against a real ``mcp-agent-mail serve`` on 127.0.0.1, then an exactly-once audit.

Each agent is an asyncio task with its own keep-alive HTTP/1.1 connection
(:class:`KeepAliveClient`, a few lines over asyncio streams) posting raw JSON-RPC
``tools/call`` requests to the stateless JSON endpoint: no MCP session
handshake, no SSE, so the client costs little CPU (about 0.1 ms per call) on
the machine that also runs the server. Per round an agent sends one message
(to the next agent, every other round with a cc), reads its inbox, replies to
the newest message it received and searches the project. At the end the
benchmark waits (bounded) for the archive writer to drain and audits that every
acknowledged message id is in the database once, has exactly one canonical file
in the Git archive plus its outbox and inbox copies, all committed at HEAD.

Usage::

    python benchmarks/load_http.py                      # 50 agents x 10 rounds
    python benchmarks/load_http.py --agents 8 --rounds 5 --keep --json
    python benchmarks/load_http.py --profile /tmp/load.txt   # py-spy (pip install py-spy) on the server

Exit status 0 when every target is met, 1 otherwise. The functions here are also
used by the CI load and fault tests (``tests/load``, ``tests/faults``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PROJECT = "/work/load-test"
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
MESSAGE_FILE = re.compile(r"__(\d+)\.md$")
TARGET_SENDS_PER_S = 300.0
TARGET_P99_MS = 150.0
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mailbox_env(root: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """Return a server environment whose archive and data directory live under ``root``, and whose database is
    ``database_url`` (default: the SQLite file ``root / "mailbox.sqlite3"``)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HTTP_", "DATABASE_", "STORAGE_", "REDIS_"))
    }
    env.update(
        {
            "MCP_AGENT_MAIL_HOME": str(root / "home"),
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{root / 'mailbox.sqlite3'}",
            "STORAGE_ROOT": str(root / "archive"),
            "APP_ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class ServerProcess:
    """One ``mcp-agent-mail serve`` subprocess on a free loopback port, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None, workers: int = 1) -> None:
        self.env = env
        self.log = log
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/mcp/"
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mcp_agent_mail",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                ],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self, chars: int = 4000) -> str:
        """Return the end of the server's log."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_alive(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until ``/health/liveness`` answers; raise RuntimeError with the log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/health/liveness", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"server not alive after {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server (no flush, no cleanup) and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, grace: float = 20.0) -> int:
        """SIGTERM the server, wait for its final archive flush, SIGKILL if it hangs; return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)


@contextlib.contextmanager
def running_server(env: dict[str, str], log: Path, workers: int = 1) -> Iterator[ServerProcess]:
    """Start a server, wait until it is alive, and always stop it afterwards."""
    server = ServerProcess(env, log, workers=workers)
    try:
        server.wait_alive()
        yield server
    finally:
        server.stop()


class ToolFailed(Exception):
    """A tool call came back as an error (tool error, JSON-RPC error or HTTP status)."""

    def __init__(self, tool: str, text: str, status: int = 200) -> None:
        super().__init__(f"{tool}: HTTP {status}: {text[:300]}")
        self.tool = tool
        self.text = text
        self.status = status


async def call_tool(client: Any, url: str, tool: str, arguments: dict[str, Any], ident: int = 1) -> Any:
    """POST one JSON-RPC ``tools/call``; return its structured result or raise :class:`ToolFailed`."""
    body = {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = await client.post(url, json=body, headers=JSON_HEADERS)
    if response.status_code != 200:
        raise ToolFailed(tool, response.text, response.status_code)
    document = response.json()
    if "error" in document:
        raise ToolFailed(tool, json.dumps(document["error"]))
    result = document["result"]
    if result.get("isError"):
        raise ToolFailed(tool, " ".join(part.get("text", "") for part in result.get("content", [])))
    structured = result.get("structuredContent")
    if isinstance(structured, dict) and set(structured) == {"result"}:
        return structured["result"]
    return structured


class RawResponse:
    """The parts of an HTTP response the load client reads (shaped like ``httpx.Response``)."""

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.content)


class KeepAliveClient:
    """A minimal HTTP/1.1 client on one keep-alive connection, so the load generator costs little CPU.

    It POSTs JSON and reads ``Content-Length`` or chunked answers; connection failures raise
    ``httpx.TransportError`` like the real client, and the next call reconnects.
    """

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, url: str, json: Any = None, headers: dict[str, str] | None = None) -> RawResponse:
        """POST ``json`` to ``url`` (same host) and return the response."""
        target = httpx.URL(url).raw_path.decode()
        body = _json_bytes(json)
        lines = [f"POST {target} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        try:
            return await asyncio.wait_for(self._exchange(request), self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise httpx.TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def _exchange(self, request: bytes) -> RawResponse:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "content-length" in fields:
            content = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            content = b"".join(parts)
        else:
            raise ValueError("response without Content-Length or chunked body")
        if fields.get("connection", "").lower() == "close":
            await self.aclose()
        return RawResponse(status, content)

    async def aclose(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._streams is not None:
            _reader, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass
class Agent:
    """One simulated agent: its name, token and HTTP client."""

    name: str
    token: str
    client: Any  # httpx.AsyncClient or KeepAliveClient


@dataclass
class LoadResult:
    """What a load run saw: latencies per tool, errors, acknowledged message ids, wall time."""

    agents: int
    rounds: int
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    names: list[str] = field(default_factory=list)

    def record(self, tool: str, seconds: float) -> None:
        """Add one successful call's latency."""
        self.latencies.setdefault(tool, []).append(seconds)

    @property
    def messages_written(self) -> int:
        """Messages acknowledged (sends and replies)."""
        return len(self.acked)

    @property
    def sends_per_s(self) -> float:
        """Acknowledged messages per second of wall time, over the whole mixed run."""
        return self.messages_written / self.elapsed if self.elapsed else 0.0

    @property
    def calls_per_s(self) -> float:
        """Successful tool calls per second of wall time."""
        return sum(len(v) for v in self.latencies.values()) / self.elapsed if self.elapsed else 0.0


def percentile(values: list[float], pct: float) -> float:
    """Return the pct-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def setup_agents(url: str, count: int, project: str = PROJECT) -> list[tuple[str, str]]:
    """Create the project and ``count`` agents; return (name, registration_token) pairs."""
    async with httpx.AsyncClient(timeout=30) as client:
        await call_tool(client, url, "ensure_project", {"human_key": project})
        created = []
        for i in range(count):
            data = await call_tool(
                client, url, "create_agent_identity", {"project_key": project, "program": "load", "model": f"m{i}"}
            )
            created.append((data["name"], data["registration_token"]))
    return created


async def _timed(result: LoadResult, agent: Agent, url: str, tool: str, args: dict[str, Any]) -> Any:
    started = time.perf_counter()
    try:
        value = await call_tool(agent.client, url, tool, args)
    except (ToolFailed, httpx.HTTPError) as exc:
        result.errors.append(f"{agent.name} {tool}: {exc!r}"[:500])
        return None
    result.record(tool, time.perf_counter() - started)
    return value


def _message_id(value: Any) -> int | None:
    try:
        return int(value["deliveries"][0]["payload"]["id"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None


async def _agent_loop(
    result: LoadResult, url: str, agents: list[Agent], index: int, rounds: int, project: str, start: asyncio.Event
) -> None:
    me = agents[index]
    peer = agents[(index + 1) % len(agents)]
    other = agents[(index + 2) % len(agents)]
    replied: set[int] = set()
    await start.wait()
    for rnd in range(rounds):
        args: dict[str, Any] = {
            "project_key": project,
            "sender_name": me.name,
            "sender_token": me.token,
            "to": [peer.name],
            "subject": f"load r{rnd} from {me.name}",
            "body_md": f"Round {rnd} status from {me.name}: migration step {rnd} done, token lt{index}x{rnd}.",
        }
        if rnd % 2 and other.name not in (me.name, peer.name):
            args["cc"] = [other.name]
        sent = await _timed(result, me, url, "send_message", args)
        if (mid := _message_id(sent)) is not None:
            result.acked.append(mid)
        inbox = await _timed(
            result,
            me,
            url,
            "fetch_inbox",
            {
                "project_key": project,
                "agent_name": me.name,
                "registration_token": me.token,
                "limit": 10,
            },
        )
        target = next(
            (item["id"] for item in inbox or [] if item["id"] not in replied and item.get("from") != me.name), None
        )
        if target is not None:
            replied.add(target)
            reply = await _timed(
                result,
                me,
                url,
                "reply_message",
                {
                    "project_key": project,
                    "message_id": target,
                    "sender_name": me.name,
                    "sender_token": me.token,
                    "body_md": f"Ack from {me.name} in round {rnd}.",
                },
            )
            if (mid := _message_id(reply)) is not None:
                result.acked.append(mid)
        await _timed(
            result,
            me,
            url,
            "search_messages",
            {
                "project_key": project,
                "query": f"migration lt{(index + len(agents) - 1) % len(agents)}x{rnd}",
                "limit": 10,
                "agent_name": me.name,
                "registration_token": me.token,
            },
        )


async def run_load(
    url: str, agents: int, rounds: int, project: str = PROJECT, credentials: list[tuple[str, str]] | None = None
) -> LoadResult:
    """Run the mixed workload with ``agents`` concurrent agents for ``rounds`` rounds each."""
    credentials = credentials or await setup_agents(url, agents, project)
    result = LoadResult(agents=agents, rounds=rounds, names=[name for name, _ in credentials])
    clients = [KeepAliveClient(url) for _ in credentials]
    people = [Agent(name, token, client) for (name, token), client in zip(credentials, clients, strict=True)]
    start = asyncio.Event()
    try:
        tasks = [
            asyncio.create_task(_agent_loop(result, url, people, i, rounds, project, start)) for i in range(len(people))
        ]
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - began
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return result


Database = Path | str
"""A mailbox database: a SQLite file, or a database URL (SQLite or PostgreSQL)."""


@contextlib.contextmanager
def database_rows(database: Database) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    """Yield a function that runs one plain SELECT on ``database`` (read straight from it, no server code)."""
    from sqlalchemy.engine import make_url

    url = None if isinstance(database, Path) else make_url(database)
    if url is None or url.drivername.startswith("sqlite"):
        path = database if url is None else Path(str(url.database))
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            yield lambda sql: conn.execute(sql).fetchall()
        return
    import psycopg

    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database, connect_timeout=30
    ) as conn:
        yield lambda sql: conn.execute(sql).fetchall()


def pending_rows(db_path: Database) -> int:
    """Return how many archive outbox rows are still queued (read straight from the database)."""
    with database_rows(db_path) as run:
        return int(run("SELECT count(*) FROM archive_outbox")[0][0])


def wait_for_archive(db_path: Database, timeout: float = 60.0, poll: Callable[[], None] | None = None) -> int:
    """Wait (bounded) until the outbox is empty; return the rows still pending at the end."""
    deadline = time.monotonic() + timeout
    while True:
        left = pending_rows(db_path)
        if left == 0 or time.monotonic() >= deadline:
            return left
        if poll is not None:
            poll()
        time.sleep(0.1)


@dataclass
class Audit:
    """Exactly-once findings for acknowledged messages, in the database and in the Git archive."""

    acked: int = 0
    stored: int = 0
    lost: list[int] = field(default_factory=list)
    duplicate_acks: list[int] = field(default_factory=list)
    duplicate_rows: list[str] = field(default_factory=list)
    missing_recipients: list[int] = field(default_factory=list)
    archive_problems: list[str] = field(default_factory=list)
    pending: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was lost, doubled or left out of the archive."""
        return not (
            self.lost
            or self.duplicate_acks
            or self.duplicate_rows
            or self.missing_recipients
            or self.archive_problems
            or self.pending
        )

    def summary(self) -> str:
        """Return one line per kind of problem (or 'ok')."""
        if self.ok:
            return f"ok: {self.acked} acknowledged, {self.stored} stored, archive exact"
        parts = [
            f"lost={self.lost[:20]}",
            f"duplicate_acks={self.duplicate_acks[:20]}",
            f"duplicate_rows={self.duplicate_rows[:20]}",
            f"missing_recipients={self.missing_recipients[:20]}",
            f"pending={self.pending}",
            f"archive={self.archive_problems[:20]}",
        ]
        return "; ".join(parts)


def _archive_state(storage: Path) -> tuple[dict[int, list[str]], set[str]]:
    """Return message files by id in the work tree, and the paths committed at HEAD."""
    from dulwich.repo import Repo

    from mcp_agent_mail.archive.on_disk import head_blobs, worktree_paths

    files: dict[int, list[str]] = {}
    for path in worktree_paths(storage):
        match = MESSAGE_FILE.search(path)
        if match and "/messages/threads/" not in path:
            files.setdefault(int(match.group(1)), []).append(path)
    with Repo(str(storage)) as repo:
        committed = set(head_blobs(repo))
    return files, committed


def audit(db_path: Database, storage: Path, acked: list[int]) -> Audit:
    """Check every acknowledged id once in the database and once (canonical + inbox/outbox copies) in the archive."""
    report = Audit(acked=len(acked))
    counts = Counter(acked)
    report.duplicate_acks = sorted(mid for mid, n in counts.items() if n > 1)
    with database_rows(db_path) as run:
        rows = run("SELECT m.id, m.subject, m.body_md, a.name FROM messages m JOIN agents a ON a.id = m.sender_id")
        recipients: dict[int, list[tuple[str, str]]] = {}
        for mid, name, kind in run(
            "SELECT r.message_id, a.name, r.kind FROM message_recipients r JOIN agents a ON a.id = r.agent_id"
        ):
            recipients.setdefault(mid, []).append((name, kind))
        report.pending = int(run("SELECT count(*) FROM archive_outbox")[0][0])
    stored = {mid: (subject, body, sender) for mid, subject, body, sender in rows}
    report.stored = len(stored)
    report.lost = sorted(set(acked) - set(stored))
    twice = Counter((subject, body, sender) for subject, body, sender in stored.values())
    report.duplicate_rows = [f"{k[2]}: {k[0]}" for k, n in twice.items() if n > 1]
    report.missing_recipients = sorted(mid for mid in stored if not recipients.get(mid))
    if not storage.exists():
        report.archive_problems.append("no archive")
        return report
    files, committed = _archive_state(storage)
    for mid, (_subject, _body, sender) in sorted(stored.items()):
        paths = files.get(mid, [])
        canonical = [p for p in paths if "/messages/" in p and "/agents/" not in p]
        problems = []
        if len(canonical) != 1:
            problems.append(f"{len(canonical)} canonical files")
        if not any(f"/agents/{sender}/outbox/" in p for p in paths):
            problems.append("no outbox copy")
        for name, kind in recipients.get(mid, []):
            if kind != "bcc" and not any(f"/agents/{name}/inbox/" in p for p in paths):
                problems.append(f"no inbox copy for {name}")
        uncommitted = [p for p in paths if p not in committed]
        if uncommitted:
            problems.append(f"not committed: {uncommitted[:3]}")
        if problems:
            report.archive_problems.append(f"{mid}: {', '.join(problems)}")
    extra = sorted(set(files) - set(stored))
    if extra:
        report.archive_problems.append(f"archive holds ids the database does not: {extra[:20]}")
    return report


def report_rows(result: LoadResult, audit_report: Audit) -> list[tuple[str, str, str, bool]]:
    """Return (measure, value, target, met) rows for the PASS/MISS table."""
    everything = [v for values in result.latencies.values() for v in values]
    p99_all = percentile(everything, 99) * 1000
    rows = [
        (
            "messages/s (send+reply, sustained)",
            f"{result.sends_per_s:.1f}",
            f">= {TARGET_SENDS_PER_S:g}",
            result.sends_per_s >= TARGET_SENDS_PER_S,
        ),
        ("p99 over all calls (ms)", f"{p99_all:.1f}", f"<= {TARGET_P99_MS:g}", p99_all <= TARGET_P99_MS),
    ]
    for tool in sorted(result.latencies):
        p99 = percentile(result.latencies[tool], 99) * 1000
        rows.append((f"p99 {tool} (ms)", f"{p99:.1f}", f"<= {TARGET_P99_MS:g}", p99 <= TARGET_P99_MS))
    rows.append(("errors", str(len(result.errors)), "0", not result.errors))
    rows.append(
        (
            "lost or duplicated",
            str(len(audit_report.lost) + len(audit_report.duplicate_acks) + len(audit_report.duplicate_rows)),
            "0",
            not (audit_report.lost or audit_report.duplicate_acks or audit_report.duplicate_rows),
        )
    )
    rows.append(
        (
            "archive exactly once",
            "yes"
            if not (audit_report.archive_problems or audit_report.pending)
            else f"{len(audit_report.archive_problems)} problem(s), {audit_report.pending} pending",
            "yes",
            not (audit_report.archive_problems or audit_report.pending),
        )
    )
    return rows


def latency_table(result: LoadResult) -> list[dict[str, Any]]:
    """Return per-tool call counts and p50/p95/p99/max in milliseconds."""
    table = []
    for tool in sorted(result.latencies):
        values = result.latencies[tool]
        table.append(
            {
                "tool": tool,
                "calls": len(values),
                "p50_ms": round(percentile(values, 50) * 1000, 1),
                "p95_ms": round(percentile(values, 95) * 1000, 1),
                "p99_ms": round(percentile(values, 99) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
                "mean_ms": round(statistics.fmean(values) * 1000, 1),
            }
        )
    return table


PROFILE_GROUPS = (
    ("archive writer (Git projection thread)", ("archive/flush.py", "archive/repo.py", "archive/render.py")),
    ("mcp-agent-mail tools and services", ("mcp_agent_mail/services/", "mcp_agent_mail/tools/")),
    ("SQLAlchemy + aiosqlite", ("sqlalchemy/", "aiosqlite/")),
    (
        "MCP / HTTP stack (fastmcp, mcp, starlette, uvicorn, anyio, pydantic)",
        ("fastmcp/", "mcp/", "starlette/", "uvicorn/", "anyio/", "pydantic", "h11/", "mcp_agent_mail/http"),
    ),
    ("asyncio event loop", ("asyncio/",)),
)


def profile_breakdown(raw: Path) -> list[tuple[str, float]]:
    """Group py-spy raw samples (GIL holder only) by the innermost frame's package; return (group, share)."""
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        total += int(n)
        group = "other"
        if any("try_flush" in frame for frame in frames):
            group = PROFILE_GROUPS[0][0]
        else:
            for frame in reversed(frames):
                match = next((name for name, needles in PROFILE_GROUPS[1:] if any(x in frame for x in needles)), None)
                if match:
                    group = match
                    break
        counts[group] = counts.get(group, 0) + int(n)
    return sorted(((g, c / total) for g, c in counts.items()), key=lambda item: -item[1]) if total else []


@contextlib.contextmanager
def profiling(pid: int, out: Path | None, wall: bool = False) -> Iterator[None]:
    """Record the server with ``py-spy`` (raw format) while the block runs, when ``out`` is given.

    By default only the thread holding the GIL is sampled (where CPU goes); ``wall`` samples every
    thread, idle or waiting included (where time goes).
    """
    if out is None:
        yield
        return
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    mode = ["--idle", "--threads"] if wall else ["--gil"]
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            *mode,
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            "--subprocesses",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def _print_report(result: LoadResult, audit_report: Audit, drain_s: float) -> None:
    print(
        f"\n{result.agents} agents x {result.rounds} rounds in {result.elapsed:.2f} s; "
        f"{result.messages_written} messages acknowledged; {result.calls_per_s:.1f} calls/s; "
        f"archive drained {drain_s:.1f} s after the load\n"
    )
    print(f"{'tool':<18}{'calls':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for row in latency_table(result):
        print(
            f"{row['tool']:<18}{row['calls']:>7}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}"
            f"{row['max_ms']:>9}"
        )
    print(f"\n{'measure':<38}{'value':>14}{'target':>10}  result")
    for measure, value, target, met in report_rows(result, audit_report):
        print(f"{measure:<38}{value:>14}{target:>10}  {'PASS' if met else 'MISS'}")
    print(f"\naudit: {audit_report.summary()}")
    for error in result.errors[:10]:
        print(f"error: {error}")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """Return (user, system) CPU seconds used so far by a process and its live children (Linux /proc)."""
    user = system = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None and (int(entry.name) == pid or int(fields[1]) == pid):
            user += int(fields[11]) / tick
            system += int(fields[12]) / tick
    return user, system


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the tables (or JSON); return 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50, help="concurrent agents (default 50)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per agent: send, fetch, reply, search")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data directory (and PostgreSQL cluster) and print it"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the archive")
    parser.add_argument("--profile", type=Path, help="record the server with py-spy --gil into this raw file")
    parser.add_argument("--wall", action="store_true", help="with --profile: sample every thread, waiting included")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (serve --workers)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database: a SQLite file (default) or a throw-away durable PostgreSQL cluster (benchmarks/pg_server.py)",
    )
    args = parser.parse_args(argv)
    if args.agents < 2 or args.rounds < 1:
        parser.error("--agents must be >= 2 and --rounds >= 1")
    with contextlib.ExitStack() as stack:
        database_url = None
        cluster_dirs: list[Path] = []
        if args.backend == "postgresql":
            from pg_server import throwaway_database_url

            database_url = stack.enter_context(throwaway_database_url(cluster_dirs if args.keep else None))
        return _run_benchmark(args, database_url, cluster_dirs[0] if cluster_dirs else None)


def _run_benchmark(args: argparse.Namespace, database_url: str | None, cluster_dir: Path | None = None) -> int:
    """Serve a fresh mailbox on ``database_url`` (None: a SQLite file), load it, audit it and report.

    ``cluster_dir`` is the PostgreSQL cluster's directory when ``--keep`` keeps it.
    """
    root = Path(tempfile.mkdtemp(prefix="agent-mail-load-"))
    env = mailbox_env(root, database_url=database_url)
    storage = root / "archive"
    db_path: Database = database_url or root / "mailbox.sqlite3"
    try:
        with running_server(env, root / "server.log", workers=args.workers) as server:
            credentials = asyncio.run(setup_agents(server.url, args.agents))
            cpu_before = _cpu_seconds(server.proc.pid)
            client_before = time.process_time()
            with profiling(server.proc.pid, args.profile, args.wall):
                result = asyncio.run(run_load(server.url, args.agents, args.rounds, credentials=credentials))
            cpu_after = _cpu_seconds(server.proc.pid)
            server_user, server_system = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
            server_cpu = server_user + server_system
            client_cpu = time.process_time() - client_before
            drained = time.monotonic()
            wait_for_archive(db_path, args.drain_timeout)
            drain_s = time.monotonic() - drained
        audit_report = audit(db_path, storage, result.acked)
        rows = report_rows(result, audit_report)
        if args.json:
            print(
                json.dumps(
                    {
                        "agents": args.agents,
                        "rounds": args.rounds,
                        "elapsed_s": round(result.elapsed, 3),
                        "messages": result.messages_written,
                        "messages_per_s": round(result.sends_per_s, 1),
                        "calls_per_s": round(result.calls_per_s, 1),
                        "archive_drain_s": round(drain_s, 2),
                        "server_cpu_s": round(server_cpu, 2),
                        "server_system_cpu_s": round(server_system, 2),
                        "client_cpu_s": round(client_cpu, 2),
                        "workers": args.workers,
                        "tools": latency_table(result),
                        "errors": result.errors,
                        "audit": {"ok": audit_report.ok, "summary": audit_report.summary()},
                        "targets": [{"measure": m, "value": v, "target": t, "met": ok} for m, v, t, ok in rows],
                        **({"data_dir": str(root)} if args.keep else {}),
                        **({"cluster_dir": str(cluster_dir)} if cluster_dir is not None else {}),
                    },
                    indent=2,
                )
            )
        else:
            _print_report(result, audit_report, drain_s)
            calls = sum(len(v) for v in result.latencies.values())
            print(
                f"server CPU: {server_cpu:.1f} s over {result.elapsed:.1f} s "
                f"({server_cpu / max(result.elapsed, 1e-9):.0%} of one core, "
                f"{server_cpu / max(calls, 1) * 1000:.1f} ms per call, {server_system:.1f} s of it in the kernel, "
                f"{args.workers} worker(s)); "
                f"load client CPU: {client_cpu:.1f} s ({client_cpu / max(calls, 1) * 1000:.1f} ms per call)"
            )
            if args.profile is not None:
                print(f"\nwhere the server's GIL time went ({args.profile}):")
                for group, share in profile_breakdown(args.profile):
                    print(f"  {share:6.1%}  {group}")
            if args.keep:
                print(f"data kept in {root}")
            if cluster_dir is not None:
                print(f"PostgreSQL cluster kept in {cluster_dir}")
        return 0 if all(met for *_rest, met in rows) else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
