"""Many ``mcp-agent-mail serve`` processes on one PostgreSQL database: nothing lost, doubled or granted twice.

Each server names itself to PostgreSQL (``application_name`` in its DATABASE_URL), so the test can tell which
process holds the archive writer's lock. Every scenario ends with the exactly-once audit of
``benchmarks/load_http.py``: each acknowledged message is stored once, with its recipients, and the Git archive
holds it once (canonical file, outbox and inbox copies), committed at HEAD.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from load_http import (
    PROJECT,
    KeepAliveClient,
    ServerProcess,
    ToolFailed,
    audit,
    call_tool,
    database_rows,
    mailbox_env,
    run_load,
    setup_agents,
    wait_for_archive,
)

from mcp_agent_mail.archive.repo import ARCHIVE_LOCK_NAME
from mcp_agent_mail.db.dialects import lock_key
from pg_cluster import SUPERUSER, PgCluster, on_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL only (MCP_AGENT_MAIL_TEST_BACKEND=postgresql)"),
]

TAKEOVER_S = 20.0  # the survivor polls every 2 s; generous for a loaded CI machine


@dataclass
class Fleet:
    """Servers sharing one PostgreSQL database and one archive root; all stopped after the test."""

    root: Path
    database: str
    cluster: PgCluster
    servers: dict[str, ServerProcess] = field(default_factory=dict)

    @property
    def storage(self) -> Path:
        """The Git archive root."""
        return self.root / "archive"

    def start(self, name: str) -> ServerProcess:
        """Start server ``name`` (its PostgreSQL application_name) and wait until it answers."""
        env = mailbox_env(self.root, f"{self.database}?application_name={name}")
        server = ServerProcess(env, self.root / f"{name}.log")
        self.servers[name] = server
        try:
            server.wait_alive()
        except RuntimeError as exc:
            pytest.fail(str(exc))
        return server

    def logs(self) -> str:
        """Return the end of every server's log."""
        return "\n".join(f"--- {name}\n{server.log_tail(2000)}" for name, server in self.servers.items())

    @contextlib.contextmanager
    def admin(self) -> Iterator[Any]:
        """Yield a superuser connection to the cluster."""
        with self.cluster.admin() as conn:
            yield conn

    def archive_writer(self) -> str | None:
        """Return the name of the server holding the archive writer's lock now (None: nobody)."""
        unsigned = lock_key(ARCHIVE_LOCK_NAME) & 0xFFFF_FFFF_FFFF_FFFF
        with self.admin() as conn:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s",
                (unsigned >> 32, unsigned & 0xFFFF_FFFF),
            ).fetchone()
        return None if row is None else str(row[0])

    def restart_database(self) -> None:
        """Restart the PostgreSQL server (fast shutdown: open connections are cut), as an operator would."""
        command = [str(self.cluster.bindir / "pg_ctl"), "restart", "-D", str(self.cluster.data_dir)]
        command += ["-m", "fast", "-w", "-t", "60", "-l", str(self.cluster.log_file)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        done = subprocess.run(command, cwd=self.cluster.root, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def fleet(tmp_path: Path, new_database_url: Any, pg_cluster: PgCluster) -> Iterator[Fleet]:
    """A fresh PostgreSQL database and archive root for several servers."""
    fleet = Fleet(tmp_path, new_database_url(tmp_path / "unused.sqlite3"), pg_cluster)
    try:
        yield fleet
    finally:
        for server in fleet.servers.values():
            server.stop(grace=10)


@dataclass
class Senders:
    """Agents sending messages back to back through given servers until told to stop."""

    agents: list[tuple[str, str]]
    acked: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, url: str, index: int, *, until_gone: bool = False) -> int:
        """Send from agent ``index`` via ``url``; a transport error ends the loop when ``until_gone``."""
        name, token = self.agents[index]
        peers = [self.agents[(index + step) % len(self.agents)][0] for step in (1, 2)]
        client = KeepAliveClient(url, timeout=30)
        attempts = 0
        try:
            while not self.stop.is_set():
                attempts += 1
                arguments = {
                    "project_key": PROJECT,
                    "sender_name": name,
                    "sender_token": token,
                    "to": [peers[0]],
                    "cc": [peers[1]] if attempts % 2 else [],
                    "subject": f"{name} n{attempts}",
                    "body_md": f"payload {name}/{attempts}",
                }
                try:
                    result = await call_tool(client, url, "send_message", arguments)
                except ToolFailed as exc:
                    self.failures.append(exc.text)
                    await asyncio.sleep(0.05)
                    continue
                except httpx.TransportError as exc:
                    if until_gone:
                        return attempts
                    self.failures.append(f"transport: {exc}")
                    await asyncio.sleep(0.05)
                    continue
                self.acked.append(int(result["deliveries"][0]["payload"]["id"]))
                self.acked_at.append(time.monotonic())
        finally:
            await client.aclose()
        return attempts


def assert_exactly_once(fleet: Fleet, acked: list[int]) -> None:
    """Wait for the archive, then audit the database and the archive; fsck the repository."""
    left = wait_for_archive(fleet.database, timeout=TAKEOVER_S)
    assert left == 0, f"{left} outbox rows still pending\n{fleet.logs()}"
    report = audit(fleet.database, fleet.storage, acked)
    assert report.ok, report.summary()
    assert report.stored >= len(acked)
    if shutil.which("git"):
        fsck = subprocess.run(
            ["git", "-C", str(fleet.storage), "fsck", "--no-progress"], capture_output=True, text=True, timeout=60
        )
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr


async def test_two_servers_sending_at_once_lose_and_double_nothing(fleet: Fleet) -> None:
    first, second = fleet.start("first"), fleet.start("second")
    agents = await setup_agents(first.url, 8)
    results = await asyncio.gather(
        run_load(first.url, 4, 6, credentials=agents[:4]),
        run_load(second.url, 4, 6, credentials=agents[4:]),
    )
    for result in results:
        assert not result.errors, result.errors[:5]
    acked = [mid for result in results for mid in result.acked]
    assert len(acked) == len(set(acked)) >= 2 * 4 * 6
    assert_exactly_once(fleet, acked)
    assert first.proc.poll() is None and second.proc.poll() is None, fleet.logs()


async def test_the_other_server_takes_over_the_archive_when_its_writer_is_killed(fleet: Fleet) -> None:
    servers = {name: fleet.start(name) for name in ("first", "second")}
    agents = await setup_agents(servers["first"].url, 6)
    senders = Senders(agents)
    tasks = {
        (name, i): asyncio.create_task(senders.run(servers[name].url, i, until_gone=True))
        for i, name in enumerate(["first", "second"] * 3)
    }
    deadline = time.monotonic() + 15
    writer = None
    while writer is None and time.monotonic() < deadline:
        writer = await asyncio.to_thread(fleet.archive_writer)
        await asyncio.sleep(0.005)
    assert writer in servers, f"no server was seen writing the archive\n{fleet.logs()}"
    survivor = "second" if writer == "first" else "first"
    servers[writer].kill()
    killed_at = time.monotonic()
    await asyncio.sleep(1.5)  # the survivor keeps taking mail
    senders.stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks.values()), timeout=60)
    assert any(t > killed_at for t in senders.acked_at), "the survivor acknowledged nothing after the kill"

    assert_exactly_once(fleet, senders.acked)
    assert time.monotonic() - killed_at < TAKEOVER_S + 5
    assert servers[survivor].proc.poll() is None, fleet.logs()
    assert not senders.failures, senders.failures[:5]


async def test_a_database_restart_fails_requests_with_unavailable_then_they_recover(fleet: Fleet) -> None:
    servers = [fleet.start("first"), fleet.start("second")]
    agents = await setup_agents(servers[0].url, 4)
    senders = Senders(agents)
    tasks = [asyncio.create_task(senders.run(servers[i % 2].url, i)) for i in range(4)]
    await asyncio.sleep(1.0)
    before = len(senders.acked)
    await asyncio.to_thread(fleet.restart_database)
    restarted_at = time.monotonic()
    await asyncio.sleep(2.0)
    senders.stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)

    assert before > 0, "nothing was sent before the restart"
    assert senders.failures, "no request met the restart"
    for text in senders.failures:
        assert "UNAVAILABLE" in text and "Retry in a few seconds" in text, text
        assert "mcp_agent_mail:" not in text  # neither user nor password of the URL
    assert any(t > restarted_at for t in senders.acked_at), f"no send succeeded after the restart\n{fleet.logs()}"
    for server in servers:
        assert server.proc.poll() is None, fleet.logs()
    assert_exactly_once(fleet, senders.acked)


async def test_two_servers_racing_for_one_exclusive_glob_grant_it_once(fleet: Fleet) -> None:
    first, second = fleet.start("first"), fleet.start("second")
    (alice, alice_token), (bob, bob_token) = await setup_agents(first.url, 2)
    clients = [KeepAliveClient(first.url), KeepAliveClient(second.url)]

    async def reserve(index: int, agent: str, token: str, pattern: str) -> dict[str, Any]:
        url = (first, second)[index].url
        arguments = {
            "project_key": PROJECT,
            "agent_name": agent,
            "registration_token": token,
            "paths": [pattern],
            "exclusive": True,
            "ttl_seconds": 3600,
        }
        result: dict[str, Any] = await call_tool(clients[index], url, "file_reservation_paths", arguments)
        return result

    try:
        for round_ in range(12):
            pattern = f"src/race{round_}/**"
            one, two = await asyncio.gather(
                reserve(0, alice, alice_token, pattern), reserve(1, bob, bob_token, pattern)
            )
            granted = [len(result["granted"]) for result in (one, two)]
            conflicts = [len(result["conflicts"]) for result in (one, two)]
            assert sorted(granted) == [0, 1] and sorted(conflicts) == [0, 1], (one, two)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    with database_rows(fleet.database) as run:
        held = run(
            "SELECT path_pattern, count(*) FROM file_reservations WHERE released_ts IS NULL AND exclusive"
            " GROUP BY path_pattern"
        )
    assert sorted(held) == sorted((f"src/race{n}/**", 1) for n in range(12))
