"""Latency of the core tools, in-process: ``python benchmarks/bench_core.py [--runs N] [--archive] [--backend B]``.

A throw-away mailbox is created in a temporary directory (SQLite, WAL, full
fsync) and seeded with 10,000 messages: 1,000 of them in the inbox that
``fetch_inbox`` reads, all of them visible to the agent that searches. Every
call goes through the MCP layer (``fastmcp.Client`` over ``build_mcp_server()``,
archive writer running), so figures include tool dispatch and JSON encoding but
not a network hop. Not part of the test suite.

``--archive`` measures the archive writer instead: how fast outbox rows become
one Git commit on an archive that already holds some 12,000 files, and the
process CPU time it spends per send for one-send, 20-send and 500-send batches.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT = "/bench/repo"
CORPUS = 10_000
INBOX = 1_000
BODY_BYTES = 512
# Target p50 latency per operation, in milliseconds.
TARGETS_MS: dict[str, float | None] = {
    "health_check (baseline)": None,
    "send_message": 5.0,
    "fetch_inbox": 3.0,
    "search_messages (rare word)": 5.0,
    "search_messages (common words)": 5.0,
    "file_reservation_paths": 3.0,
}

VOCABULARY = (
    "schema migration index query latency cache token deploy rollback review branch merge conflict test "
    "fixture parser lexer router handler session cookie header payload queue worker retry backoff timeout "
    "metric trace span logger config secret vault build release tag commit patch diff hunk module package "
    "import export render template widget layout style theme button form input validate sanitize escape"
)
WORDS = tuple(VOCABULARY.split())
RARE_WORD = "kubernetes"  # in 1 % of the corpus (100 hits)
COMMON_QUERY = "migration rollback"  # both words in about half of the corpus (~5,000 hits)
ACTIVE_RESERVATIONS = 50  # other agents' leases present while reserving


def _isolate(root: Path, database_url: str | None) -> None:
    os.environ["MCP_AGENT_MAIL_HOME"] = str(root / "home")
    os.environ["DATABASE_URL"] = database_url or f"sqlite+aiosqlite:///{root / 'mailbox.sqlite3'}"
    os.environ["STORAGE_ROOT"] = str(root / "archive")
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def _body(rng: random.Random, rare: bool) -> str:
    words: list[str] = []
    while len(" ".join(words)) < BODY_BYTES - 20:
        words.append(rng.choice(WORDS))
    if rare:
        words.insert(rng.randrange(len(words)), RARE_WORD)
    return " ".join(words)[:BODY_BYTES]


def _seed_corpus(project_id: int, sender_id: int, inbox_id: int, other_id: int) -> None:
    """Insert the corpus in one transaction; the FTS triggers index every row."""
    from sqlalchemy import select

    from mcp_agent_mail.db import fulltext, schema, sync_write_connection
    from mcp_agent_mail.timeutil import utcnow

    rng = random.Random(7)
    start = utcnow() - timedelta(days=30)
    messages = [
        {
            "project_id": project_id,
            "sender_id": sender_id,
            "thread_id": f"T-{i // 10}",
            "topic": None,
            "subject": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}",
            "body_md": _body(rng, rare=i % 100 == 0),
            "importance": "normal",
            "ack_required": False,
            "created_ts": start + timedelta(seconds=i * 60),
            "attachments": [],
        }
        for i in range(CORPUS)
    ]
    with sync_write_connection() as conn:
        conn.execute(schema.messages.insert(), messages)
        m = schema.messages
        ids = conn.execute(select(m.c.id).where(m.c.project_id == project_id).order_by(m.c.id)).scalars().all()
        rows = [
            {"message_id": mid, "agent_id": inbox_id if n < INBOX else other_id, "kind": "to"}
            for n, mid in enumerate(ids)
        ]
        conn.execute(schema.message_recipients.insert(), rows)
        indexed = fulltext.indexed_count(conn)
    if indexed < CORPUS:
        raise SystemExit(f"the full-text index holds {indexed} messages, expected at least {CORPUS}")


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class _ServerClock:
    """Server-side time of the last tool call: from the first middleware to the finished result.

    It leaves out what only the client pays: the in-memory transport and the client's own
    validation of the result against the output schema (about 1 ms for a 20-item list with the
    MCP Python SDK's jsonschema).
    """

    def __init__(self) -> None:
        self.last_ms = 0.0

    def middleware(self) -> Any:
        """Return a FastMCP middleware that records the duration of each tool call."""
        from fastmcp.server.middleware import Middleware

        clock = self

        class _Clock(Middleware):
            async def on_call_tool(self, context: Any, call_next: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await call_next(context)
                finally:
                    clock.last_ms = (time.perf_counter() - began) * 1000

        return _Clock()


async def _measure(
    call: Callable[[int], Awaitable[Any]],
    runs: int,
    clock: _ServerClock,
    warmup: int = 20,
    after: Callable[[int], Awaitable[Any]] | None = None,
) -> tuple[list[float], list[float]]:
    """Time ``runs`` calls after ``warmup`` untimed ones (client round trip, server side)."""
    client_ms, server_ms = [], []
    for i in range(-warmup, runs):
        began = time.perf_counter()
        await call(i)
        elapsed = (time.perf_counter() - began) * 1000
        if i >= 0:
            client_ms.append(elapsed)
            server_ms.append(clock.last_ms)
        if after is not None:
            await after(i)
    return client_ms, server_ms


async def _run(runs: int, burst: bool, only: list[str]) -> dict[str, tuple[list[float], list[float]]]:
    from fastmcp import Client

    from mcp_agent_mail.app import build_mcp_server

    clock = _ServerClock()
    server = build_mcp_server()
    server.add_middleware(clock.middleware())
    async with Client(server) as client:
        project = (await client.call_tool("ensure_project", {"human_key": PROJECT})).data
        names = {}
        for role in ("sender", "reader", "other"):
            created = await client.call_tool(
                "create_agent_identity", {"project_key": PROJECT, "program": "bench", "model": role}
            )
            names[role] = created.data["name"]
        ids = await _agent_ids(project["id"], names)
        began = time.perf_counter()
        await asyncio.to_thread(_seed_corpus, project["id"], ids["sender"], ids["reader"], ids["other"])
        print(f"seeded {CORPUS} messages in {time.perf_counter() - began:.1f} s", file=sys.stderr)

        async def drained(_i: int) -> None:
            """Wait (untimed) until the archive writer has caught up, as between two real agent calls."""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if (await client.call_tool("health_check", {})).data.get("archive_pending", 0) == 0:
                    return
                await asyncio.sleep(0.005)
            raise SystemExit("archive writer did not catch up within 10 s")

        settle = None if burst else drained
        await drained(0)
        body = _body(random.Random(1), rare=False)
        sender, reader = names["sender"], names["reader"]

        async def send(i: int) -> Any:
            return await client.call_tool(
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": sender,
                    "to": [names["other"]],
                    "subject": f"bench {i}",
                    "body_md": body,
                },
            )

        async def fetch(_i: int) -> Any:
            result = await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": reader, "limit": 20})
            assert len(result.data) == 20
            return result

        def search(query: str) -> Callable[[int], Awaitable[Any]]:
            async def call(_i: int) -> Any:
                result = await client.call_tool(
                    "search_messages", {"project_key": PROJECT, "query": query, "agent_name": sender, "limit": 20}
                )
                assert len(result.data) == 20, query
                return result

            return call

        async def baseline(_i: int) -> Any:
            return await client.call_tool("health_check", {})

        for n in range(ACTIVE_RESERVATIONS):
            await client.call_tool(
                "file_reservation_paths",
                {
                    "project_key": PROJECT,
                    "agent_name": names["other"],
                    "paths": [f"docs/area_{n}/**"],
                },
            )

        async def reserve(i: int) -> Any:
            result = await client.call_tool(
                "file_reservation_paths",
                {
                    "project_key": PROJECT,
                    "agent_name": sender,
                    "paths": [f"src/module_{i + 100}/*.py"],
                    "ttl_seconds": 3600,
                },
            )
            assert len(result.data["granted"]) == 1
            return result

        async def release(i: int) -> None:
            await client.call_tool(
                "release_file_reservations",
                {
                    "project_key": PROJECT,
                    "agent_name": sender,
                    "paths": [f"src/module_{i + 100}/*.py"],
                },
            )
            if settle is not None:
                await settle(i)

        plan: dict[str, tuple[Callable[[int], Awaitable[Any]], Callable[[int], Awaitable[Any]] | None]] = {
            "health_check (baseline)": (baseline, None),
            "send_message": (send, settle),
            "fetch_inbox": (fetch, None),
            "search_messages (rare word)": (search(RARE_WORD), None),
            "search_messages (common words)": (search(COMMON_QUERY), None),
            "file_reservation_paths": (reserve, release),
        }
        results = {}
        for name, (call, after) in plan.items():
            if only and not any(word in name for word in only) and name != "health_check (baseline)":
                continue
            results[name] = await _measure(call, runs, clock, after=after)
        return results


async def _agent_ids(project_id: int, names: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import select

    from mcp_agent_mail.db import get_session, schema

    a = schema.agents
    async with get_session() as session:
        rows = (await session.execute(select(a.c.name, a.c.id).where(a.c.project_id == project_id))).all()
    by_name = {name: agent_id for name, agent_id in rows}
    return {role: by_name[name] for role, name in names.items()}


# ---------------------------------------------------------------------------
# Archive writer throughput (--archive)

ARCHIVE_PREFILL = 3_000  # messages already archived: about 12,000 files with two recipients each
ARCHIVE_BATCH = 500  # sends in the measured large batch
ARCHIVE_SINGLES = 30  # one-send batches measured one by one
ARCHIVE_MEDIUM = 20  # sends per batch in the medium phase (about what a writer sees under a 50-agent load)
ARCHIVE_MEDIUM_BATCHES = 10


def _prefill_archive(project_id: int, sender_id: int, recipients: list[int], count: int) -> None:
    """Insert ``count`` messages (two recipients each, threads of ten) and queue them for the archive."""
    from mcp_agent_mail.db import schema, sync_write_connection
    from mcp_agent_mail.timeutil import utcnow

    rng = random.Random(11)
    start = utcnow() - timedelta(days=60)
    rows = [
        {
            "project_id": project_id,
            "sender_id": sender_id,
            "thread_id": f"T-{i // 10}",
            "topic": None,
            "subject": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}",
            "body_md": _body(rng, rare=False),
            "importance": "normal",
            "ack_required": False,
            "created_ts": start + timedelta(seconds=i * 60),
            "attachments": [],
        }
        for i in range(count)
    ]
    m, o = schema.messages, schema.archive_outbox
    with sync_write_connection() as conn:
        first = conn.execute(m.insert().returning(m.c.id, sort_by_parameter_order=True), rows).scalars().all()
        conn.execute(
            schema.message_recipients.insert(),
            [{"message_id": mid, "agent_id": aid, "kind": "to"} for mid in first for aid in recipients],
        )
        conn.execute(
            o.insert(),
            [{"project_id": project_id, "kind": "message", "ref": str(mid), "created_ts": utcnow()} for mid in first],
        )


def _tracked_files(root: Path) -> int:
    from dulwich.index import Index

    index = root / ".git" / "index"
    return sum(1 for _ in Index(str(index))) if index.exists() else 0


async def _archive_run(batch: int, singles: int) -> dict[str, float]:
    from mcp_agent_mail import archive
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.services.identity import agents, projects
    from mcp_agent_mail.services.mail import messages

    settings = get_settings()
    project = await projects.ensure_project(PROJECT)
    names = [(await agents.create_agent_identity(PROJECT, "bench", f"m{i}"))["name"] for i in range(3)]
    sender, recipients = names[0], names[1:]
    ids = await _agent_ids(project["id"], dict(zip(names, names, strict=True)))
    began = time.perf_counter()
    await asyncio.to_thread(_prefill_archive, project["id"], ids[sender], [ids[n] for n in recipients], ARCHIVE_PREFILL)
    await asyncio.to_thread(archive.flush_pending, settings, timeout=600)
    root = Path(settings.storage.root)
    files_before = _tracked_files(root)
    print(f"prefilled archive: {files_before} files in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    body = _body(random.Random(3), rare=False)

    async def send(i: int) -> None:
        await messages.send_message(
            PROJECT, sender, recipients, f"throughput {i}", body, thread_id=f"B-{i // 10}" if i % 2 else None
        )

    single_ms, single_cpu = [], []
    for i in range(singles):
        await send(i)
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.to_thread(archive.flush_pending, settings)
        single_ms.append((time.perf_counter() - t0) * 1000)
        single_cpu.append((time.process_time() - c0) * 1000)
    sent = singles
    medium_cpu: list[float] = []
    for _ in range(ARCHIVE_MEDIUM_BATCHES):
        for i in range(ARCHIVE_MEDIUM):
            await send(sent + i)
        sent += ARCHIVE_MEDIUM
        c0 = time.process_time()
        await asyncio.to_thread(archive.flush_pending, settings)
        medium_cpu.append((time.process_time() - c0) * 1000 / ARCHIVE_MEDIUM)
    for i in range(batch):
        await send(sent + i)
    pending = await asyncio.to_thread(archive.pending_count, settings)
    files_mid = _tracked_files(root)
    t0, c0 = time.perf_counter(), time.process_time()
    flushed = await asyncio.to_thread(archive.flush_pending, settings, timeout=600)
    elapsed = time.perf_counter() - t0
    batch_cpu = (time.process_time() - c0) * 1000
    written = _tracked_files(root) - files_mid
    return {
        "archive files before": float(files_before),
        "one-send batch p50 ms": _percentile(single_ms, 0.5),
        "one-send batch p95 ms": _percentile(single_ms, 0.95),
        # CPU time is inflated by other programs on the machine; the minimum is the steadier figure.
        "one-send batch CPU p50 ms": _percentile(single_cpu, 0.5),
        "one-send batch CPU min ms": min(single_cpu),
        f"{ARCHIVE_MEDIUM}-send batch CPU ms/send": sum(medium_cpu) / len(medium_cpu),
        f"{ARCHIVE_MEDIUM}-send batch CPU min ms/send": min(medium_cpu),
        "large batch CPU ms/send": batch_cpu / batch,
        "batch rows": float(pending),
        "batch rows flushed": float(flushed),
        "batch seconds": elapsed,
        "rows/s": flushed / elapsed,
        "new files/s": written / elapsed,
        "sends/s": batch / elapsed,
    }


def _archive_report(figures: dict[str, float]) -> bool:
    for key, value in figures.items():
        shown = f"{value:.0f}" if value >= 100 or value.is_integer() else f"{value:.2f}"
        print(f"{key:<28}{shown:>10}")
    ok = figures["sends/s"] >= 300
    print(f"target: a batch keeps up with ≥ 300 sends/s: {'PASS' if ok else 'MISS'}")
    return ok


def _report(results: dict[str, tuple[list[float], list[float]]]) -> bool:
    """Print client round-trip and server-side figures; targets are judged on the server-side p50."""
    print(f"{'operation':<32}{'client p50':>11}{'p95':>7}{'server p50':>11}{'p95':>7}{'target':>8}  result")
    ok = True
    for name, (client_ms, server_ms) in results.items():
        c50, c95 = _percentile(client_ms, 0.50), _percentile(client_ms, 0.95)
        s50, s95 = _percentile(server_ms, 0.50), _percentile(server_ms, 0.95)
        target = TARGETS_MS[name]
        if target is None:
            shown, verdict = "-", ""
        else:
            shown = "≤" + format(target, "g")
            verdict = "PASS" if s50 <= target else f"MISS (+{s50 - target:.1f} ms)"
            ok = ok and s50 <= target
        print(f"{name:<32}{c50:>11.2f}{c95:>7.2f}{s50:>11.2f}{s95:>7.2f}{shown:>8}  {verdict}")
    return ok


def main() -> int:
    """Run the benchmark in a temporary mailbox and print the table; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="measured calls per operation (default 200)")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="write back to back, so the archive writer commits while calls run (default: let it catch up)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORD",
        help="measure only operations whose name contains WORD (repeatable; the baseline always runs)",
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help=f"measure archive writer throughput instead ({ARCHIVE_PREFILL} archived messages, "
        f"{ARCHIVE_SINGLES} one-send batches, then one batch of {ARCHIVE_BATCH} sends)",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database: a SQLite file (default) or a throw-away durable PostgreSQL cluster (benchmarks/pg_server.py)",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.backend == "postgresql":
            from pg_server import throwaway_database_url

            database_url = stack.enter_context(throwaway_database_url())
        return _measure_on(args, database_url)


def _measure_on(args: argparse.Namespace, database_url: str | None) -> int:
    """Run the chosen measurement on a fresh mailbox in ``database_url`` (None: a SQLite file) and report it."""
    with tempfile.TemporaryDirectory(prefix="mcp-agent-mail-bench-") as tmp:
        _isolate(Path(tmp), database_url)
        if args.archive:
            from mcp_agent_mail.logging_setup import configure_logging

            configure_logging(os.environ["LOG_LEVEL"])
            figures = asyncio.run(_archive_run(ARCHIVE_BATCH, ARCHIVE_SINGLES))
            print(f"archive writer on {sys.platform}, Python {sys.version.split()[0]}; two recipients per send")
            return 0 if _archive_report(figures) else 1
        if not args.burst:
            # Only shortens the untimed wait between write calls; the writer still runs after each one.
            os.environ.setdefault("ARCHIVE_FLUSH_INTERVAL_MS", "20")
        from mcp_agent_mail.logging_setup import configure_logging

        configure_logging(os.environ["LOG_LEVEL"])
        results = asyncio.run(_run(args.runs, args.burst, args.only))
    mode = "burst (archive writer busy)" if args.burst else "paced (archive writer idle at each call)"
    print(
        f"{args.backend}; {args.runs} calls each, {mode}; "
        f"corpus {CORPUS} messages, inbox {INBOX}, body {BODY_BYTES} bytes; "
        f"Python {sys.version.split()[0]} on {sys.platform}"
    )
    return 0 if _report(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
