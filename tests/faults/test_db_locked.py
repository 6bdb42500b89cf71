"""Another process holds the SQLite write lock for seconds: calls wait and succeed, or fail with a coded error."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from load_http import ToolFailed, audit, call_tool, setup_agents, wait_for_archive

# Another process holding SQLite's database-wide write lock, and the busy timeout that waits for it, are SQLite's.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

PROJECT = "/work/load-test"
HOLD_S = 3.0
LOCKER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE projects SET human_key = human_key")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
print("released", flush=True)
"""


def _hold_lock(db_path: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a separate python process holding an exclusive write transaction; return once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db_path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


async def _calls_during_lock(url: str, agents: list[tuple[str, str]], tag: str) -> list[tuple[str, str, object]]:
    """Fire sends, inbox reads and searches concurrently; return (tool, subject-or-'', outcome) for each."""

    async def one(
        client: httpx.AsyncClient, tool: str, args: dict[str, object], subject: str
    ) -> tuple[str, str, object]:
        try:
            return tool, subject, await call_tool(client, url, tool, args)
        except ToolFailed as exc:
            return tool, subject, exc

    async with httpx.AsyncClient(timeout=60) as client:
        jobs = []
        for i, (name, token) in enumerate(agents):
            peer = agents[(i + 1) % len(agents)][0]
            subject = f"{tag} send {i}"
            jobs.append(
                one(
                    client,
                    "send_message",
                    {
                        "project_key": PROJECT,
                        "sender_name": name,
                        "sender_token": token,
                        "to": [peer],
                        "cc": [agents[(i + 2) % len(agents)][0]],
                        "subject": subject,
                        "body_md": f"body {tag} {i}",
                    },
                    subject,
                )
            )
            jobs.append(one(client, "fetch_inbox", {"project_key": PROJECT, "agent_name": name}, ""))
            jobs.append(one(client, "search_messages", {"project_key": PROJECT, "query": "body"}, ""))
        return list(await asyncio.gather(*jobs))


def _consistent(db_path: Path) -> None:
    """Every message has its recipients and is either queued for the archive or already archived (outbox empty)."""
    with sqlite3.connect(db_path) as conn:
        bare = conn.execute(
            "SELECT id FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id)"
        ).fetchall()
        counts = conn.execute("SELECT message_id, count(*) FROM message_recipients GROUP BY message_id").fetchall()
    assert not bare, f"messages without recipients: {bare}"
    assert all(n == 2 for _mid, n in counts), counts


def _stored_subjects(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return {subject: mid for mid, subject in conn.execute("SELECT id, subject FROM messages")}


async def test_calls_wait_for_a_lock_shorter_than_the_busy_timeout(mailbox):
    server = mailbox.start()
    agents = await setup_agents(server.url, 4)
    locker = _hold_lock(mailbox.sqlite_file, HOLD_S)
    started = time.monotonic()
    try:
        outcomes = await _calls_during_lock(server.url, agents, "wait")
    finally:
        locker.wait(timeout=30)
    failures = [(tool, outcome) for tool, _s, outcome in outcomes if isinstance(outcome, Exception)]
    assert not failures, failures
    assert time.monotonic() - started >= HOLD_S - 0.5, "the sends did not wait for the lock"
    stored = _stored_subjects(mailbox.sqlite_file)
    acked = [int(o["deliveries"][0]["payload"]["id"]) for t, _s, o in outcomes if t == "send_message"]
    assert sorted(acked) == sorted(stored.values())
    _consistent(mailbox.sqlite_file)
    assert wait_for_archive(mailbox.sqlite_file, timeout=30) == 0
    report = audit(mailbox.sqlite_file, mailbox.storage, acked)
    assert report.ok, report.summary()


async def test_calls_fail_cleanly_when_the_lock_outlasts_the_busy_timeout(mailbox):
    server = mailbox.start(DATABASE_BUSY_TIMEOUT_MS="500")
    agents = await setup_agents(server.url, 4)
    locker = _hold_lock(mailbox.sqlite_file, HOLD_S)
    try:
        outcomes = await _calls_during_lock(server.url, agents, "refused")
    finally:
        locker.wait(timeout=30)
    acked: list[int] = []
    refused: list[str] = []
    for tool, subject, outcome in outcomes:
        if isinstance(outcome, ToolFailed):
            assert outcome.status == 200, outcome
            assert outcome.text.startswith("UNAVAILABLE: "), outcome.text
            assert "Hint:" in outcome.text and "Traceback" not in outcome.text
            if tool == "send_message":
                refused.append(subject)
        elif tool == "send_message":
            acked.append(int(outcome["deliveries"][0]["payload"]["id"]))  # type: ignore[index]
    assert refused, "no send met the lock; it was released too early"
    stored = _stored_subjects(mailbox.sqlite_file)
    assert not set(refused) & set(stored), "a refused send was stored"
    assert sorted(acked) == sorted(stored.values())
    _consistent(mailbox.sqlite_file)

    # Once the lock is gone the same sends go through, and the archive catches up with everything.
    async with httpx.AsyncClient(timeout=30) as client:
        for subject in refused:
            i = int(subject.rsplit(" ", 1)[1])
            name, token = agents[i]
            result = await call_tool(
                client,
                server.url,
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": name,
                    "sender_token": token,
                    "to": [agents[(i + 1) % len(agents)][0]],
                    "cc": [agents[(i + 2) % len(agents)][0]],
                    "subject": subject,
                    "body_md": f"retry {i}",
                },
            )
            acked.append(int(result["deliveries"][0]["payload"]["id"]))
    assert wait_for_archive(mailbox.sqlite_file, timeout=30) == 0
    _consistent(mailbox.sqlite_file)
    report = audit(mailbox.sqlite_file, mailbox.storage, acked)
    assert report.ok, report.summary()
    assert server.proc.poll() is None, server.log_tail()
