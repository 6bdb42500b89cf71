"""The background writer in a server lifespan, and several processes sharing one archive."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from mcp_agent_mail.archive import flush_pending, pending_count, wake_writer
from mcp_agent_mail.archive import writer as writer_module
from mcp_agent_mail.archive.writer import STOP_SECONDS, writer_running
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.errors import UnavailableError


async def _until_empty(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await asyncio.to_thread(pending_count) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_writer_replays_at_start_flushes_on_wake_and_at_exit(seed, archive):
    pid = seed.project()  # left pending, as after a crash
    alice = seed.agent(pid, "Alice")
    async with writer_running():
        assert await _until_empty(5)  # the replay at start
        assert (archive.root / "projects/work-demo-repo/agents/Alice/profile.json").exists()

        seed.reservation(pid, alice, "lib/*")
        wake_writer()
        assert await _until_empty(5)

        seed.agent(pid, "Bob")  # no wake-up: picked up at exit at the latest
    assert pending_count() == 0
    assert (archive.root / "projects/work-demo-repo/agents/Bob/profile.json").exists()
    archive.assert_clean()


async def test_writer_polls_rows_queued_by_other_processes(seed, archive):
    pid = seed.project()
    async with writer_running():
        seed.agent(pid, "Quiet")  # inserted without wake_writer(), like another process would
        assert await _until_empty(6)
    archive.assert_clean()


async def test_several_writers_in_one_process_stop_promptly(seed, archive):
    pid = seed.project()
    started = time.monotonic()
    async with writer_running(), writer_running():
        for n in range(5):
            seed.agent(pid, f"worker-{n}")
            wake_writer()
        assert await _until_empty(5)
    assert time.monotonic() - started < 10
    assert pending_count() == 0
    archive.assert_clean()


async def test_stopping_during_the_debounce_drains_at_once(seed, archive, monkeypatch):
    monkeypatch.setenv("ARCHIVE_FLUSH_INTERVAL_MS", "60000")  # a debounce far longer than the bound below
    clear_settings_cache()
    assert get_settings().storage.flush_interval_ms == 60000
    pid = seed.project()
    async with writer_running():
        seed.agent(pid, "Hasty")
        wake_writer()
        await asyncio.sleep(0.05)  # the writer is now waiting out its debounce
        started = time.monotonic()
    assert time.monotonic() - started < STOP_SECONDS
    assert pending_count() == 0
    assert (archive.root / "projects/work-demo-repo/agents/Hasty/profile.json").exists()
    archive.assert_clean()


_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from mcp_agent_mail.archive import flush_pending
    from mcp_agent_mail.db import schema, sync_write_connection

    tag, project_id = sys.argv[1], int(sys.argv[2])
    for n in range(50):
        now = datetime.now(UTC)
        with sync_write_connection() as conn:
            aid = conn.execute(schema.agents.insert().values(
                project_id=project_id, name=f"{tag}-{n}", name_key=f"{tag}-{n}", program="p", model="m",
                task_description="", inception_ts=now, last_active_ts=now, attachments_policy="auto",
                contact_policy="auto")).inserted_primary_key[0]
            conn.execute(schema.archive_outbox.insert().values(
                project_id=project_id, kind="agent", ref=str(aid), created_ts=now))
        if n % 5 == 4:
            flush_pending(timeout=60)
    flush_pending(timeout=60)
    """
)


def test_two_processes_flush_concurrently(seed, archive, isolated_env):
    pid = seed.project()
    flush_pending()
    env = dict(os.environ)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, tag, str(pid)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("left", "right")
    ]
    for child in children:
        _out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err

    assert pending_count() == 0
    profiles = [p for p in archive.files("projects/work-demo-repo/agents") if p.endswith("/profile.json")]
    assert len(profiles) == 100
    names = sorted(json.loads((archive.root / p).read_text())["name"] for p in profiles)
    assert names == sorted(f"{tag}-{n}" for tag in ("left", "right") for n in range(50))
    archive.git("fsck", "--strict")
    archive.assert_clean()
    log = archive.git("log", "--format=%s").splitlines()
    assert log[-1] == "chore: initialize archive"
    assert len(log) <= 2 + 40  # batches of several changes, not one commit per change


def _lock_holder(archive) -> subprocess.Popen[str]:
    """Start another process holding the archive's writer lock until its stdin closes (or it is killed)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(archive.root / ".git" / "mcp-agent-mail-writer.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_flush_reports_a_busy_writer_lock_and_the_lock_dies_with_its_holder(seed, archive):
    pid = seed.project()
    flush_pending()
    seed.agent(pid, "Waiting")
    holder = _lock_holder(archive)
    try:
        with pytest.raises(UnavailableError) as info:
            flush_pending(timeout=0.3)
        assert info.value.code == "UNAVAILABLE"
        assert pending_count() == 1
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert flush_pending(timeout=5) == 1  # the kernel released the dead holder's lock
    archive.assert_clean()


async def test_a_server_starts_while_its_backlog_waits_for_the_archive_writer_lock(seed, archive, monkeypatch):
    pid = seed.project()
    flush_pending()
    seed.agent(pid, "Backlog")  # left pending, as after a crash
    monkeypatch.setattr(writer_module, "START_LOCK_SECONDS", 60.0)  # the replay would wait a minute for the lock
    holder = _lock_holder(archive)
    try:
        running = writer_running()
        await asyncio.wait_for(running.__aenter__(), timeout=20)  # started: it did not wait out the replay
        try:
            assert pending_count() == 1  # the replay waits in the background for the lock
            assert holder.stdin is not None
            holder.stdin.close()  # the other writer lets go ...
            holder.wait(timeout=10)
            assert await _until_empty(20)  # ... and the replay writes the backlog
        finally:
            await running.__aexit__(None, None, None)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert (archive.root / "projects/work-demo-repo/agents/Backlog/profile.json").exists()
    archive.assert_clean()
