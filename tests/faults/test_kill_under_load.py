"""SIGKILL the server while several agents send, restart it: every acknowledged message is stored and archived once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
import time

import httpx
import pytest
from load_http import PROJECT, audit, call_tool, setup_agents, wait_for_archive

pytestmark = pytest.mark.slow

SENDERS = 4
KILLS = 2


async def _send_until_killed(url: str, agents: list[tuple[str, str]], index: int, kill: int, acked: list[int]) -> int:
    """Send back to back until the server goes away; return how many sends were attempted."""
    name, token = agents[index]
    attempts = 0
    async with httpx.AsyncClient(timeout=10) as client:
        with contextlib.suppress(httpx.TransportError):
            while True:
                attempts += 1
                result = await call_tool(
                    client,
                    url,
                    "send_message",
                    {
                        "project_key": PROJECT,
                        "sender_name": name,
                        "sender_token": token,
                        "to": [agents[(index + 1) % len(agents)][0]],
                        "cc": [agents[(index + 2) % len(agents)][0]] if attempts % 2 else [],
                        "subject": f"kill {kill} sender {index} n{attempts}",
                        "body_md": f"payload {kill}/{index}/{attempts}",
                    },
                )
                acked.append(int(result["deliveries"][0]["payload"]["id"]))
    return attempts


async def test_sigkill_mid_load_loses_and_doubles_nothing(mailbox):
    rng = random.Random(int(time.time()))
    first = mailbox.start()
    agents = await setup_agents(first.url, SENDERS + 1)
    first.stop()
    acked: list[int] = []
    for kill in range(KILLS):
        server = mailbox.start()
        senders = [asyncio.create_task(_send_until_killed(server.url, agents, i, kill, acked)) for i in range(SENDERS)]
        await asyncio.sleep(rng.uniform(0.4, 1.2))
        server.kill()
        attempts = await asyncio.wait_for(asyncio.gather(*senders), timeout=30)
        assert sum(attempts) > SENDERS, "no send was attempted before the kill"
    assert acked, "no send was acknowledged before a kill"

    final = mailbox.start()
    left = wait_for_archive(mailbox.database, timeout=30)
    final.stop()
    assert left == 0, final.log_tail()
    report = audit(mailbox.database, mailbox.storage, acked)
    assert report.ok, report.summary()
    assert report.stored >= len(acked)
    if shutil.which("git"):
        fsck = subprocess.run(
            ["git", "-C", str(mailbox.storage), "fsck", "--no-progress"], capture_output=True, text=True, timeout=60
        )
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
