"""Page speed of the web UI, measured in-process: ``python benchmarks/bench_web.py [--runs N] [--json]``.

A throw-away mailbox is created in a temporary directory (SQLite, WAL) with 50
agents and 10,000 messages: the older 9,800 inserted in one transaction as
``bench_core.py`` does (the full-text index is filled by its triggers), spread
over the 50 agents with threads of ten and a mix of importance and
acknowledgement requests; the newest 200 sent through the ``send_message`` tool
(so the Git archive has real commits, inbox copies and threads to show); 30
agents hold file reservations. Then every page of the web UI's URL map is requested through the
ASGI app that ``serve`` runs (``build_http_app``, lifespan started, a loopback
client with no authentication configured) with ``httpx.ASGITransport``: figures
include routing, the security middleware, the services' queries and template
rendering, but no network hop. Not part of the test suite.

A page whose route does not exist yet is listed as missing; a page answering
anything but 200 counts as an error. The exit status is 1 when a page misses its
target or errs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import WORDS, _body, _isolate

PROJECT = "/bench/web"
AGENTS = 50
MESSAGES = 10_000
TOOL_SENDS = 200  # sent through send_message, so the archive has them
RESERVATIONS = 30
SEARCH_WORD = "kubernetes"  # in 1 % of the inserted bodies
TARGET_P50_MS = 50.0
WARMUP = 5


@dataclass
class Mailbox:
    """What the benchmark built: the project's slug, agent names, a busy agent, a message, a thread, a commit."""

    slug: str
    agents: list[str]
    busy: str
    message_id: int
    thread_id: str
    newest_id: int
    commit: str


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


async def _drain(client: Any, timeout: float = 60.0) -> None:
    """Wait until the archive writer has committed everything queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await client.call_tool("health_check", {})).data.get("archive_pending", 0) == 0:
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"archive writer did not catch up within {timeout} s")


async def _build_mailbox(rng: random.Random) -> tuple[int, list[str]]:
    """Create the project and agents through the MCP tools, insert the older mail, then send the newest
    messages and take the reservations through the tools."""
    from fastmcp import Client

    from mcp_agent_mail.app import build_mcp_server

    async with Client(build_mcp_server()) as client:
        project = (await client.call_tool("ensure_project", {"human_key": PROJECT})).data
        names = []
        for i in range(AGENTS):
            created = await client.call_tool(
                "create_agent_identity",
                {"project_key": PROJECT, "program": "bench", "model": f"m{i}", "task_description": f"Area {i}"},
            )
            names.append(created.data["name"])
        await asyncio.to_thread(_insert_corpus, int(project["id"]), rng)
        for i in range(TOOL_SENDS):
            sender, *recipients = rng.sample(names, 3)
            sent = await client.call_tool(
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": sender,
                    "to": recipients[:1],
                    "cc": recipients[1:] if i % 3 == 0 else [],
                    "subject": f"Archived {rng.choice(WORDS)} {rng.choice(WORDS)} #{i}",
                    "body_md": _body(rng, rare=i % 50 == 0),
                    "importance": ("normal", "high", "urgent", "low")[i % 4],
                    "ack_required": i % 5 == 0,
                    "thread_id": f"A-{i // 10}",
                },
            )
            assert sent.data["deliveries"], sent.data
        for n in range(RESERVATIONS):
            await client.call_tool(
                "file_reservation_paths",
                {"project_key": PROJECT, "agent_name": names[n], "paths": [f"src/area_{n}/**", f"docs/{n}/*.md"]},
            )
        await _drain(client)
    return int(project["id"]), names


def _insert_corpus(project_id: int, rng: random.Random) -> None:
    """Insert the older 9,800 of the 10,000 messages in one transaction, spread over the agents."""
    from sqlalchemy import select

    from mcp_agent_mail.db import schema, sync_write_connection
    from mcp_agent_mail.timeutil import utcnow

    a, m = schema.agents, schema.messages
    count = MESSAGES - TOOL_SENDS
    start = utcnow() - timedelta(days=30)  # the last one about two days ago
    with sync_write_connection() as conn:
        ids = conn.execute(select(a.c.id).where(a.c.project_id == project_id).order_by(a.c.id)).scalars().all()
        rows = [
            {
                "project_id": project_id,
                "sender_id": rng.choice(ids),
                "thread_id": f"T-{i // 10}",
                "topic": None,
                "subject": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}",
                "body_md": _body(rng, rare=i % 100 == 0),
                "importance": ("normal", "normal", "high", "urgent", "low")[i % 5],
                "ack_required": i % 7 == 0,
                "created_ts": start + timedelta(seconds=i * 250),
                "attachments": [],
            }
            for i in range(count)
        ]
        new_ids = conn.execute(m.insert().returning(m.c.id, sort_by_parameter_order=True), rows).scalars().all()
        recipients = []
        for n, message_id in enumerate(new_ids):
            for kind, agent_id in zip(("to", "cc"), rng.sample(ids, 2 if n % 3 == 0 else 1), strict=False):
                read = start + timedelta(seconds=n * 250 + 60) if n % 2 else None
                recipients.append({"message_id": message_id, "agent_id": agent_id, "kind": kind, "read_ts": read})
        conn.execute(schema.message_recipients.insert(), recipients)


def _facts(project_id: int, names: list[str], storage: Path) -> Mailbox:
    """Look up what the page URLs need: the busiest agent, a message, its thread, the newest id, HEAD."""
    import sqlite3

    from dulwich.repo import Repo

    from mcp_agent_mail.config import get_settings

    path = get_settings().database.url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        slug = conn.execute("SELECT slug FROM projects WHERE id = ?", (project_id,)).fetchone()[0]
        busy = conn.execute(
            "SELECT a.name FROM message_recipients r JOIN agents a ON a.id = r.agent_id "
            "GROUP BY a.id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        message_id, thread_id = conn.execute(
            "SELECT id, thread_id FROM messages WHERE thread_id LIKE 'A-%' ORDER BY id LIMIT 1 OFFSET 5"
        ).fetchone()
        newest = conn.execute("SELECT max(id) FROM messages").fetchone()[0]
    commit = Repo(str(storage)).head().decode()
    return Mailbox(slug, names, busy, int(message_id), str(thread_id), int(newest), commit)


def _pages(box: Mailbox) -> dict[str, str]:
    """Every GET page of the URL map, filled in from the mailbox."""
    p, agent = f"/mail/projects/{box.slug}", box.busy
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "unified inbox": "/mail/",
        "unified inbox, filtered (high, unread)": "/mail/?importance=high&unread=1",
        "unified inbox, page 20": "/mail/?page=20",
        "inbox updates (JSON)": f"/mail/api/inbox?after={box.newest_id - 20}",
        "projects": "/mail/projects",
        "project": p,
        "agent inbox": f"{p}/agents/{agent}/inbox",
        "agent outbox": f"{p}/agents/{agent}/outbox",
        "message": f"{p}/messages/{box.message_id}",
        "thread": f"{p}/threads/{box.thread_id}",
        "search (rare word)": f"{p}/search?q={SEARCH_WORD}",
        "search (common words)": f"{p}/search?q=migration+rollback",
        "search (common words, by time)": f"{p}/search?q=migration+rollback&order=time",
        "reservations": f"{p}/reservations",
        "acknowledgements": f"{p}/acks",
        "archive commits": "/mail/archive",
        "archive commit diff": f"/mail/archive/commits/{box.commit}",
        "archive tree": "/mail/archive/tree",
        "time travel inbox": f"{p}/agents/{agent}/inbox-at?at={now}",
        "compose": f"{p}/compose",
        "retire confirmation": f"{p}/agents/{agent}/retire/confirm",
    }


# Text a page must contain, so that a page that lost its rows is not timed as fast.
MUST_SHOW = {
    "unified inbox": "Archived ",
    "unified inbox, page 20": "#",
    "search (rare word)": "<mark",
    "search (common words)": "<mark",
    "search (common words, by time)": "<mark",
    "thread": "Archived ",
    "reservations": "src/area_",
    "agent inbox": "#",
}


def _route_exists(app: Any, path: str) -> bool:
    """Return True when the app has a route for ``path`` (so a 404 means a missing record, not a missing page)."""
    from starlette.routing import Match

    scope = {"type": "http", "path": path.split("?", 1)[0], "method": "GET", "root_path": "", "headers": []}

    def matches(routes: list[Any], scope: dict[str, Any]) -> bool:
        for route in routes:
            match, child = route.matches(scope)
            if match == Match.NONE:
                continue
            inner = getattr(route, "routes", None)
            if inner is None:
                return True
            if matches(list(inner), {**scope, **child}):
                return True
        return False

    return matches(list(app.routes), scope)


async def _measure(runs: int, box: Mailbox) -> dict[str, Any]:
    import httpx

    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.http.app import build_http_app

    app = build_http_app(get_settings())
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 50_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            gc.collect()
            gc.freeze()  # as serve does: the start-up heap stays out of the collector's scans
            for name, url in _pages(box).items():
                first = await client.get(url)
                if first.status_code == 404 and not _route_exists(app, url):
                    results[name] = {"url": url, "missing": True}
                    continue
                if first.status_code != 200:
                    said = " ".join(first.text.split())[:120]
                    results[name] = {"url": url, "error": f"HTTP {first.status_code}: {said}"}
                    continue
                if MUST_SHOW.get(name, "") not in first.text:
                    results[name] = {"url": url, "error": f"the page does not show {MUST_SHOW[name]!r}"}
                    continue
                samples = []
                for i in range(WARMUP + runs):
                    began = time.perf_counter()
                    response = await client.get(url)
                    elapsed = (time.perf_counter() - began) * 1000
                    if response.status_code != 200:
                        results[name] = {"url": url, "error": f"HTTP {response.status_code} on run {i}"}
                        break
                    if i >= WARMUP:
                        samples.append(elapsed)
                else:
                    results[name] = {
                        "url": url,
                        "bytes": len(first.content),
                        "p50_ms": _percentile(samples, 0.50),
                        "p95_ms": _percentile(samples, 0.95),
                        "mean_ms": statistics.fmean(samples),
                        "target_p50_ms": TARGET_P50_MS,
                        "pass": _percentile(samples, 0.50) <= TARGET_P50_MS,
                    }
    return results


async def _run(runs: int) -> dict[str, Any]:
    rng = random.Random(5)
    began = time.perf_counter()
    project_id, names = await _build_mailbox(rng)
    from mcp_agent_mail.config import get_settings

    box = _facts(project_id, names, Path(get_settings().storage.root))
    print(f"built {MESSAGES} messages, {AGENTS} agents in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return await _measure(runs, box)


def _print_table(results: dict[str, Any], runs: int) -> None:
    print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'KiB':>6}  result")
    for name, row in results.items():
        if row.get("missing"):
            print(f"{name:40} {'':>8} {'':>8} {'':>8} {'':>6}  missing (no route yet)")
        elif "error" in row:
            print(f"{name:40} {'':>8} {'':>8} {'':>8} {'':>6}  ERROR {row['error']}")
        else:
            verdict = "PASS" if row["pass"] else "MISS"
            print(
                f"{name:40} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f} {row['mean_ms']:8.2f} "
                f"{row['bytes'] / 1024:6.1f}  {verdict} (p50 target {TARGET_P50_MS:.0f} ms)"
            )
    machine = f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    print(f"{runs} measured requests per page after {WARMUP} warm-up ones; {machine}")


def main() -> int:
    """Build the mailbox, time every page, print the table (or JSON); exit 1 when a page misses or errs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="measured requests per page (default 50)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        _isolate(Path(tmp))
        os.environ.setdefault("ARCHIVE_FLUSH_INTERVAL_MS", "20")
        for name in ("HTTP_BEARER_TOKEN", "HTTP_JWT_ENABLED", "HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED"):
            os.environ.pop(name, None)
        results = asyncio.run(_run(args.runs))
    if args.json:
        print(json.dumps({"runs": args.runs, "python": platform.python_version(), "pages": results}, indent=2))
    else:
        _print_table(results, args.runs)
    bad = [name for name, row in results.items() if "error" in row or row.get("pass") is False]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
