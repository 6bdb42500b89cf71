"""The archive's filesystem is full: mail is still accepted and queued, and the archive catches up once space returns.

The archive lives on a small tmpfs mounted for the test (needs root; skipped where
mounting is not allowed). The database lives elsewhere, as it does when a user's
archive disk fills up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from load_http import PROJECT, audit, call_tool, pending_rows, setup_agents, wait_for_archive

from mcp_agent_mail.archive.repo import TMP_DIR, stale_lock_files
from wait_kit import async_wait_until

pytestmark = pytest.mark.slow

SIZE = "8m"


@pytest.fixture
def small_fs(mailbox) -> Iterator[Path]:
    """Mount a small tmpfs for the archive; stop the mailbox's servers and unmount it afterwards."""
    mount_point = mailbox.root / "archive-fs"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("mount is not available")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        for server in mailbox.servers:
            server.stop(grace=10)
        if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def _fill(directory: Path) -> Path:
    """Write a file until the filesystem has no space left; return it."""
    filler = directory / "filler.bin"
    chunk = b"\0" * (64 * 1024)
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with contextlib.suppress(OSError), filler.open("ab") as handle:  # the last partial chunk
        while True:
            handle.write(b"\0" * 512)
            handle.flush()
    return filler


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


async def _send(client: httpx.AsyncClient, url: str, agents: list[tuple[str, str]], n: int, tag: str) -> int:
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
            "cc": [agents[(n + 2) % len(agents)][0]],
            "subject": f"{tag} {n}",
            "body_md": f"{tag} {n}\n\n" + "Details of the change. " * 100,
        },
    )
    return int(result["deliveries"][0]["payload"]["id"])


async def test_mail_is_queued_while_the_archive_disk_is_full_and_archived_after(mailbox, small_fs):
    storage = small_fs / "archive"
    server = mailbox.start(STORAGE_ROOT=str(storage), ARCHIVE_FLUSH_INTERVAL_MS="50")
    agents = await setup_agents(server.url, 3)
    acked: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(3):
            acked.append(await _send(client, server.url, agents, n, "before"))
        assert wait_for_archive(mailbox.database, timeout=30) == 0

        filler = _fill(small_fs)
        assert _free_bytes(small_fs) < 64 * 1024
        for n in range(20):
            acked.append(await _send(client, server.url, agents, n, "full"))
        inbox = await call_tool(
            client,
            server.url,
            "fetch_inbox",
            {
                "project_key": PROJECT,
                "agent_name": agents[1][0],
                "limit": 50,
            },
        )
        assert len(inbox) >= 13
        # The writer wakes, tries the queue and fails on the full disk; every row stays queued.
        await async_wait_until(
            lambda: "No space left on device" in mailbox.log.read_text(errors="replace"),
            timeout=30,
            message="the archive writer never reported the full disk",
        )
        queued = pending_rows(mailbox.database)
        assert queued >= 20, "the full disk did not hold the archive back"
        ready = httpx.get(f"{server.base}/health/readiness", timeout=10)
        assert ready.status_code == 200 and ready.json().get("archive_pending", 0) >= 20, ready.text
        assert "No space left on device" in mailbox.log.read_text(errors="replace")

        filler.unlink()
        acked.append(await _send(client, server.url, agents, 99, "after"))
        assert wait_for_archive(mailbox.database, timeout=30) == 0, server.log_tail()
    assert server.proc.poll() is None, server.log_tail()
    server.stop()
    assert not stale_lock_files(storage)
    assert not list((storage / ".git" / TMP_DIR).glob("*"))
    report = audit(mailbox.database, storage, acked)
    assert report.ok, report.summary()
    assert report.stored == len(acked)
    if shutil.which("git"):
        fsck = subprocess.run(
            ["git", "-C", str(storage), "fsck", "--no-progress"], capture_output=True, text=True, timeout=60
        )
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
