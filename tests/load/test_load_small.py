"""A bounded load run against a real server: concurrent agents, zero errors, every message once in DB and archive."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_http

pytestmark = pytest.mark.slow

AGENTS = 8
ROUNDS = 10


async def test_concurrent_agents_lose_nothing_and_archive_each_message_once(
    tmp_path: Path, new_database_url: Callable[[Path], str]
) -> None:
    database = new_database_url(tmp_path / "mailbox.sqlite3")
    env = load_http.mailbox_env(tmp_path, database)
    storage = tmp_path / "archive"
    with load_http.running_server(env, tmp_path / "server.log") as server:
        result = await load_http.run_load(server.url, AGENTS, ROUNDS)
        left = load_http.wait_for_archive(database, timeout=30)
        assert server.proc.poll() is None, server.log_tail()
    assert left == 0, "the archive writer did not catch up within 30 s"
    assert not result.errors, result.errors[:5]
    assert len(result.latencies["send_message"]) == AGENTS * ROUNDS
    assert result.latencies.get("reply_message"), "no reply was sent"
    assert len(result.acked) >= AGENTS * ROUNDS
    report = load_http.audit(database, storage, result.acked)
    assert report.ok, report.summary()
    assert report.stored == len(result.acked)
