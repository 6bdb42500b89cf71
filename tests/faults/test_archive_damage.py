"""The archive repository is left damaged while the server is down: stale Git locks, torn writes.

On restart the writer clears what a dead writer left, rewrites what is queued, and
the archive ends equal to the database's projection; damage to files nothing is
queued for is found by ``doctor check`` and undone by ``doctor repair``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from load_http import PROJECT, audit, call_tool, setup_agents, wait_for_archive

from mcp_agent_mail import archive
from mcp_agent_mail.archive.on_disk import compare_archive
from mcp_agent_mail.archive.repo import TMP_DIR, stale_lock_files
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.services.doctor.checks import read_connection

pytestmark = [pytest.mark.slow, pytest.mark.backend_agnostic]


async def _send(url: str, agents: list[tuple[str, str]], count: int, tag: str) -> list[int]:
    acked = []
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(count):
            name, token = agents[n % len(agents)]
            result = await call_tool(
                client,
                url,
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": name,
                    "sender_token": token,
                    "to": [agents[(n + 1) % len(agents)][0]],
                    "subject": f"{tag} {n}",
                    "body_md": f"{tag} body {n}",
                },
            )
            acked.append(int(result["deliveries"][0]["payload"]["id"]))
    return acked


def _expected_files() -> dict[str, bytes]:
    with read_connection(get_settings()) as conn:
        return archive.render_archive_files(conn)


def _drift(storage: Path) -> list[str]:
    drift = compare_archive(_expected_files(), storage)
    # Profiles carry last_active_ts, which sending refreshes without re-rendering the profile.
    return [p for p in drift.to_write + drift.extra if not p.endswith("/profile.json")]


def _message_file(expected: dict[str, bytes], message_id: int, kind: str) -> str:
    suffix = f"__{message_id}.md"
    return next(p for p in expected if p.endswith(suffix) and f"/{kind}/" in p and "/threads/" not in p)


def _fsck(storage: Path) -> None:
    if shutil.which("git"):
        fsck = subprocess.run(
            ["git", "-C", str(storage), "fsck", "--no-progress"], capture_output=True, text=True, timeout=60
        )
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def _doctor(box, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_agent_mail", "doctor", *args],
        env=box.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_writer_recovers_from_stale_locks_and_torn_writes(mailbox, settings_for):
    settings_for(mailbox)
    server = mailbox.start()
    agents = await setup_agents(server.url, 3)
    archived = await _send(server.url, agents, 4, "archived")
    assert wait_for_archive(mailbox.database, timeout=30) == 0
    server.stop()

    # A server whose writer waits a minute after each wake-up: what it accepts stays queued when it dies.
    slow = mailbox.start(ARCHIVE_FLUSH_INTERVAL_MS="60000")
    queued = await _send(slow.url, agents, 4, "queued")
    async with httpx.AsyncClient(timeout=30) as client:
        first = archived[0]
        reader = agents[1]
        await call_tool(
            client,
            slow.url,
            "acknowledge_message",
            {
                "project_key": PROJECT,
                "agent_name": reader[0],
                "registration_token": reader[1],
                "message_id": first,
            },
        )
    slow.kill()

    expected = _expected_files()
    assert archive.pending_count() > 0
    git = mailbox.storage / ".git"
    # What a writer killed mid-batch leaves behind.
    locks = [
        git / "index.lock",
        git / "refs" / "heads" / "main.lock",
        git / "HEAD.lock",
        git / "objects" / "ab" / ("cd" * 19 + ".lock"),
    ]
    for lock in locks:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_bytes(b"\x00partial")
    (git / TMP_DIR).mkdir(exist_ok=True)
    (git / TMP_DIR / "w-torn").write_bytes(b'---json\n{"id": ')
    # Torn work-tree files: an archived message the acknowledgement re-renders, and a queued one's inbox copy.
    torn = [_message_file(expected, first, "inbox"), _message_file(expected, queued[-1], "inbox")]
    for rel in torn:
        path = mailbox.storage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(expected[rel][: len(expected[rel]) // 3])

    final = mailbox.start()
    assert wait_for_archive(mailbox.database, timeout=30) == 0, final.log_tail()
    final.stop()
    assert not stale_lock_files(mailbox.storage)
    assert not list((git / TMP_DIR).glob("*"))
    for rel in torn:
        assert (mailbox.storage / rel).read_bytes() == expected[rel], rel
    assert not _drift(mailbox.storage)
    report = audit(mailbox.database, mailbox.storage, archived + queued)
    assert report.ok, report.summary()
    _fsck(mailbox.storage)


async def test_doctor_repairs_a_torn_file_nothing_is_queued_for(mailbox, settings_for):
    settings_for(mailbox)
    server = mailbox.start()
    agents = await setup_agents(server.url, 2)
    acked = await _send(server.url, agents, 3, "settled")
    assert wait_for_archive(mailbox.database, timeout=30) == 0
    server.stop()

    expected = _expected_files()
    rel = _message_file(expected, acked[1], "messages")
    (mailbox.storage / rel).write_bytes(expected[rel][:10])
    (mailbox.storage / ".git" / "index.lock").write_bytes(b"")

    check = _doctor(mailbox, "check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "archive" in check.stdout
    repair = _doctor(mailbox, "repair", "--yes")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert _doctor(mailbox, "check").returncode == 0
    assert (mailbox.storage / rel).read_bytes() == expected[rel]
    assert not stale_lock_files(mailbox.storage)
    report = audit(mailbox.database, mailbox.storage, acked)
    assert report.ok, report.summary()
    _fsck(mailbox.storage)
