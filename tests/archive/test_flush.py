"""Applying the outbox to Git (archive.flush): counts, idempotence, and a busy writer lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mcp_agent_mail.archive.flush import due_count, failed_count, flush_pending, pending_count, try_flush
from mcp_agent_mail.archive.repo import LOCK_NAME
from mcp_agent_mail.errors import UnavailableError


@contextmanager
def lock_held_elsewhere(root: Path) -> Iterator[None]:
    """Hold the archive's writer lock file the way another process's writer would."""
    gitdir = root / ".git"
    gitdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(gitdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def test_a_flush_applies_every_due_row_in_one_commit_and_a_second_one_has_nothing_to_do(seed, archive, settings):
    pid = seed.project()
    blue, red = seed.agent(pid, "BlueLake"), seed.agent(pid, "RedFox")
    seed.message(pid, blue, "Hello", to=(red,))
    assert (pending_count(settings), due_count(settings), failed_count(settings)) == (4, 4, 0)

    assert flush_pending(settings) == 4
    assert pending_count(settings) == 0
    commits = archive.commits()
    assert archive.subjects() == ["mail: BlueLake -> RedFox | Hello", "chore: initialize archive"]
    assert "projects/work-demo-repo/agents/RedFox/profile.json" in archive.files()

    assert flush_pending(settings) == 0
    assert len(archive.commits()) == len(commits)  # nothing queued: no empty commit
    archive.assert_clean()


def test_a_busy_writer_lock_makes_flush_wait_then_refuse_and_try_flush_step_aside(seed, archive, settings):
    seed.project()
    with lock_held_elsewhere(Path(settings.storage.root)):
        assert try_flush(settings) is None
        with pytest.raises(UnavailableError) as caught:
            flush_pending(settings, timeout=0.2)
        assert caught.value.code == "UNAVAILABLE"
        assert pending_count(settings) == 1  # nothing was taken off the queue
    assert try_flush(settings) == 1
    assert pending_count(settings) == 0
