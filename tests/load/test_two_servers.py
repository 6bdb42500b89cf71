"""Two server processes on one database and archive send at the same time: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_http

pytestmark = pytest.mark.slow

AGENTS_PER_SERVER = 4
ROUNDS = 8


async def test_two_servers_share_one_mailbox(tmp_path: Path, new_database_url: Callable[[Path], str]) -> None:
    database = new_database_url(tmp_path / "mailbox.sqlite3")
    env = load_http.mailbox_env(tmp_path, database)
    storage = tmp_path / "archive"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(load_http.running_server(env, tmp_path / "first.log"))
        second = stack.enter_context(load_http.running_server(env, tmp_path / "second.log"))
        agents = await load_http.setup_agents(first.url, 2 * AGENTS_PER_SERVER)
        results = await asyncio.gather(
            load_http.run_load(first.url, AGENTS_PER_SERVER, ROUNDS, credentials=agents[:AGENTS_PER_SERVER]),
            load_http.run_load(second.url, AGENTS_PER_SERVER, ROUNDS, credentials=agents[AGENTS_PER_SERVER:]),
        )
        left = load_http.wait_for_archive(database, timeout=30)
        assert first.proc.poll() is None, first.log_tail()
        assert second.proc.poll() is None, second.log_tail()
    assert left == 0, "the archive writers did not catch up within 30 s"
    for result in results:
        assert not result.errors, result.errors[:5]
        assert len(result.latencies["send_message"]) == AGENTS_PER_SERVER * ROUNDS
    acked = [mid for result in results for mid in result.acked]
    assert len(acked) == len(set(acked)), "two acknowledged sends share one id"
    report = load_http.audit(database, storage, acked)
    assert report.ok, report.summary()
    assert report.stored == len(acked)
