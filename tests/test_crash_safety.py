"""Kill a real HTTP server with SIGKILL while it takes mail: every acknowledged message survives, once.

Set CRASH_SEED to replay a run; the seed in use is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from dulwich.repo import Repo
from fastmcp import Client
from sqlalchemy import text

import db_kit
from mcp_agent_mail import archive
from mcp_agent_mail.archive.on_disk import blob_id, compare_archive, head_blobs, worktree_paths
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import reset_database_state, sync_write_connection
from mcp_agent_mail.services.doctor.checks import read_connection

PROJECT = "/work/crash-safety"
ROUNDS = 20
START_TIMEOUT_S = 20.0
_ID = re.compile(r"__(\d+)\.md$")


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``mcp-agent-mail serve`` process on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mcp_agent_mail", "serve", "--port", str(self.port)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def wait_alive(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/health/liveness", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        pytest.fail(f"server not alive after {START_TIMEOUT_S} s:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


async def _setup(base: str) -> tuple[str, str, str]:
    async with Client(f"{base}/mcp/", timeout=15) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        names = []
        for _ in range(3):
            agent = await c.call_tool(
                "create_agent_identity", {"project_key": PROJECT, "program": "crash", "model": "m"}
            )
            names.append(agent.data["name"])
    return names[0], names[1], names[2]


async def _send_until_killed(base: str, names: tuple[str, str, str], round_no: int, acked: list[int]) -> None:
    sender, to, cc = names
    n = 0
    with contextlib.suppress(Exception):
        async with Client(f"{base}/mcp/", timeout=5) as c:
            while True:
                n += 1
                result = await c.call_tool(
                    "send_message",
                    {
                        "project_key": PROJECT,
                        "sender_name": sender,
                        "to": [to],
                        "cc": [cc] if n % 2 else [],
                        "subject": f"crash {round_no}-{n}",
                        "body_md": f"round {round_no} message {n}",
                    },
                )
                acked.append(int(result.data["deliveries"][0]["payload"]["id"]))


async def _round(
    env: dict[str, str], log: Path, names: tuple[str, str, str], round_no: int, delay: float, acked: list[int]
) -> None:
    server = Server(env, log)
    try:
        await asyncio.to_thread(server.wait_alive)
        sender = asyncio.create_task(_send_until_killed(server.base, names, round_no, acked))
        await asyncio.sleep(delay)
        server.kill()
        await asyncio.wait_for(sender, timeout=15)
    finally:
        server.kill()


def _message_files(storage: Path) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in worktree_paths(storage):
        match = _ID.search(path)
        if match and "/threads/" not in path:
            found.setdefault(int(match.group(1)), []).append(path)
    return found


@pytest.mark.slow
async def test_sigkill_never_loses_an_acknowledged_message(isolated_env):
    seed = int(os.environ.get("CRASH_SEED") or time.time_ns() % 2**32)
    print(f"crash-safety seed: {seed} (replay with CRASH_SEED={seed})")
    rng = random.Random(seed)
    storage, tmp = isolated_env["storage"], isolated_env["tmp_path"]
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    log = tmp / "server.log"
    acked: list[int] = []
    started = time.monotonic()

    first = Server(env, log)
    try:
        await asyncio.to_thread(first.wait_alive)
        names = await _setup(first.base)
    finally:
        first.stop()
    for round_no in range(1, ROUNDS + 1):
        await _round(env, log, names, round_no, rng.uniform(0.05, 0.6), acked)

    final = Server(env, log)
    try:
        await asyncio.to_thread(final.wait_alive)
        deadline = time.monotonic() + 20
        while archive.pending_count() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        final.stop()
    reset_database_state()
    archive.flush_pending()
    assert archive.pending_count() == 0
    print(f"{len(acked)} acknowledged sends over {ROUNDS} kills in {time.monotonic() - started:.1f} s")
    assert acked, "no send was acknowledged; the kill delays are too short for this machine"

    stored = dict(db_kit.query("SELECT id, subject FROM messages"))
    recipients = db_kit.query("SELECT message_id, count(*) FROM message_recipients GROUP BY message_id")
    names_by_id = dict(db_kit.query("SELECT id, name FROM agents"))
    missing = sorted(set(acked) - set(stored))
    assert not missing, f"acknowledged but lost: {missing}"
    assert len(acked) == len(set(acked))
    assert all(n == 1 for n in Counter(stored.values()).values()), "a message was stored twice"
    assert all(count in (1, 2) for _mid, count in recipients)

    files = _message_files(storage)
    sender, to, _cc = names
    with Repo(str(storage)) as repo:
        committed = head_blobs(repo)
    for message_id in stored:
        paths = files.get(message_id, [])
        canonical = [p for p in paths if "/messages/" in p]
        assert len(canonical) == 1, (message_id, paths)
        assert any(f"/agents/{sender}/outbox/" in p for p in paths), (message_id, paths)
        assert any(f"/agents/{to}/inbox/" in p for p in paths), (message_id, paths)
        assert all(p in committed for p in paths), (message_id, paths)
    assert set(files) == set(stored), "archive holds messages the database does not"
    assert set(names_by_id.values()) >= set(names)

    with read_connection(get_settings()) as conn:
        drift = compare_archive(archive.render_archive_files(conn), storage)
    assert drift.clean, drift.details()
    if shutil.which("git"):
        fsck = subprocess.run(
            ["git", "-C", str(storage), "fsck", "--no-progress"], capture_output=True, text=True, timeout=60
        )
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_writer_clears_lock_files_left_by_a_killed_writer(isolated_env):
    storage = isolated_env["storage"]
    with sync_write_connection() as conn:
        conn.execute(
            text(
                "INSERT INTO projects(slug, human_key, created_at) VALUES ('crash', :key, '2026-01-01 00:00:00.000000')"
            ),
            {"key": PROJECT},
        )
        conn.execute(
            text(
                "INSERT INTO archive_outbox(project_id, kind, ref, created_ts) VALUES (1, 'project', '1', "
                "'2026-01-01 00:00:00.000000')"
            )
        )
    archive.flush_pending()
    with sync_write_connection() as conn:
        conn.execute(
            text(
                "INSERT INTO agents(project_id, name, name_key, program, model, task_description, inception_ts, "
                "last_active_ts, attachments_policy, contact_policy) VALUES (1, 'BlueLake', 'bluelake', 'p', 'm', "
                "'', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'auto', 'auto')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO archive_outbox(project_id, kind, ref, created_ts) VALUES (1, 'agent', '1', "
                "'2026-01-01 00:00:00.000000')"
            )
        )
    with read_connection(get_settings()) as conn:
        profile = next(
            data for path, data in archive.render_archive_files(conn).items() if path.endswith("/profile.json")
        )
    sha = blob_id(profile).decode()
    gitdir = storage / ".git"
    leftovers = [
        gitdir / "index.lock",
        gitdir / "refs" / "heads" / "main.lock",
        gitdir / "objects" / sha[:2] / f"{sha[2:]}.lock",
    ]
    for lock in leftovers:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_bytes(b"")
    assert archive.flush_pending() == 1
    assert not [lock for lock in leftovers if lock.exists()]
    with Repo(str(storage)) as repo:
        assert any(path.endswith("BlueLake/profile.json") for path in head_blobs(repo))
