"""File-system helpers: durable folder syncs, free and time-sorted backup names, polled flock locks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.fsutil import LockMode, backup_suffix, flock_until, fsync_dir, try_flock, unlock

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
STAMP = ".backup-20260506-070809Z"
RUN_TIMEOUT_S = 60

# Holds a flock on argv[1] (shared or exclusive, argv[2]) until its stdin closes.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""

# Prints whether argv[1] could be locked exclusively right now.
PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    """An empty lock file."""
    path = tmp_path / "mailbox.lock"
    path.touch()
    return path


@pytest.fixture
def open_fd(lock_file: Path) -> Iterator[int]:
    """A descriptor of the lock file, closed after the test."""
    fd = os.open(lock_file, os.O_RDWR)
    try:
        yield fd
    finally:
        os.close(fd)


class Holder:
    """Another process holding a flock on a file until :meth:`release`."""

    def __init__(self, path: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_held(self) -> None:
        """Block until the process reports that it holds the lock."""
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        """Let the process exit (the kernel drops its lock) and wait for it."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=RUN_TIMEOUT_S)

    def stop(self) -> None:
        """Kill the process if it still runs (cleanup, also after a failure)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=RUN_TIMEOUT_S)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    """Processes started by the test; each is stopped at the end, whatever happened."""
    started: list[Holder] = []
    try:
        yield started
    finally:
        for holder in started:
            holder.stop()


def probe(path: Path) -> str:
    """Ask another process whether it could take ``path`` exclusively now ("free" or "busy")."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    return done.stdout.strip()


def hold(holders: list[Holder], path: Path, mode: str) -> Holder:
    """Start a process holding ``path`` in ``mode`` ("shared" or "exclusive")."""
    holder = Holder(path, mode)
    holders.append(holder)  # stopped by the fixture even if it never reports
    holder.wait_held()
    return holder


# ---------------------------------------------------------------------------
# fsync_dir


def test_fsync_dir_syncs_a_folder_and_ignores_one_that_is_gone(tmp_path):
    (tmp_path / "renamed").write_text("x")
    fsync_dir(tmp_path)
    fsync_dir(tmp_path / "missing")  # best effort: no error
    assert (tmp_path / "renamed").read_text() == "x"


# ---------------------------------------------------------------------------
# backup_suffix


def test_the_first_backup_of_a_second_takes_the_plain_stamp(tmp_path):
    db = tmp_path / "mail.sqlite3"
    db.write_bytes(b"db")
    assert backup_suffix([db], now=NOW) == STAMP


def test_a_taken_name_of_any_base_or_sidecar_moves_to_the_next_free_one(tmp_path):
    db, storage = tmp_path / "mail.sqlite3", tmp_path / "storage"
    Path(f"{db}{STAMP}").write_bytes(b"older backup")
    assert backup_suffix([db, storage], sidecars=("-wal", "-shm"), now=NOW) == f"{STAMP}-01"
    Path(f"{db}{STAMP}-01-wal").write_bytes(b"a sidecar of another backup")
    assert backup_suffix([db, storage], sidecars=("-wal", "-shm"), now=NOW) == f"{STAMP}-02"
    Path(f"{storage}{STAMP}-02").mkdir()
    assert backup_suffix([db, storage], sidecars=("-wal", "-shm"), now=NOW) == f"{STAMP}-03"
    os.symlink(tmp_path / "nowhere", f"{db}{STAMP}-03")  # a dangling link still takes the name
    assert backup_suffix([db, storage], sidecars=("-wal", "-shm"), now=NOW) == f"{STAMP}-04"


def test_backup_names_sort_in_the_order_they_were_made(tmp_path):
    db = tmp_path / "mail.sqlite3"
    made = []
    for when in [NOW] * 12 + [NOW + timedelta(seconds=1), NOW + timedelta(minutes=1)]:
        name = f"{db.name}{backup_suffix([db], now=when)}"
        (tmp_path / name).write_bytes(b"backup")
        made.append(name)
    assert len(set(made)) == len(made)
    assert sorted(made) == made


def test_a_naive_time_is_read_as_utc(tmp_path):
    assert backup_suffix([tmp_path / "db"], now=NOW.replace(tzinfo=None)) == STAMP


def test_when_every_name_of_the_second_is_taken_nothing_is_chosen(tmp_path):
    db = tmp_path / "mail.sqlite3"
    Path(f"{db}{STAMP}").write_bytes(b"x")
    for n in range(1, 100):
        Path(f"{db}{STAMP}-{n:02d}").write_bytes(b"x")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnavailableError) as caught:
        backup_suffix([db], now=NOW)
    assert caught.value.render().startswith("UNAVAILABLE: Could not find a free backup name")
    assert "*.backup-*" in caught.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ---------------------------------------------------------------------------
# flock: try_flock, unlock, flock_until


def test_try_flock_takes_a_free_lock_and_unlock_frees_it_for_another_process(lock_file, open_fd):
    assert try_flock(open_fd, LockMode.EXCLUSIVE)
    assert probe(lock_file) == "busy"
    unlock(open_fd)
    assert probe(lock_file) == "free"


def test_shared_holders_share_and_keep_an_exclusive_one_out(lock_file, open_fd, holders):
    reader = hold(holders, lock_file, "shared")
    assert not try_flock(open_fd, LockMode.EXCLUSIVE)
    assert try_flock(open_fd, LockMode.SHARED)
    unlock(open_fd)
    reader.release()
    assert try_flock(open_fd, LockMode.EXCLUSIVE)


def test_the_poll_stops_at_its_deadline_with_the_callers_error(lock_file, open_fd, holders):
    hold(holders, lock_file, "exclusive")
    busy = UnavailableError("The mailbox is busy.", hint="Try again later.")
    with pytest.raises(UnavailableError) as caught:
        flock_until(open_fd, LockMode.SHARED, time.monotonic(), busy=busy)
    assert caught.value is busy
    assert flock_until(open_fd, LockMode.EXCLUSIVE, time.monotonic()) is False  # no error given: False


def test_the_poll_gets_the_lock_once_its_holder_lets_go(lock_file, open_fd, holders):
    holder = hold(holders, lock_file, "exclusive")
    tries = []

    def give_up() -> bool:
        tries.append(1)
        holder.release()  # the holder exits while the poll waits
        return False

    assert flock_until(open_fd, LockMode.EXCLUSIVE, time.monotonic() + RUN_TIMEOUT_S, give_up=give_up)
    assert tries == [1]
    assert probe(lock_file) == "busy"  # now this process holds it


def test_the_poll_returns_early_when_the_caller_gives_up(lock_file, open_fd, holders):
    hold(holders, lock_file, "exclusive")
    busy = UnavailableError("should not be raised")
    far = time.monotonic() + 3600
    assert flock_until(open_fd, LockMode.EXCLUSIVE, far, give_up=lambda: True, busy=busy) is False
