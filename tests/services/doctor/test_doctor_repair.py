"""Doctor repairs on a real database and Git archive: planning changes nothing, each repair fixes its check."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.repo import Repo

from db_kit import update
from mcp_agent_mail import archive
from mcp_agent_mail.archive.repo import writer_lock
from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.services.doctor.repair import (
    delete_orphans,
    execute_repair,
    plan_repair,
    remove_stale_locks,
    reproject_archive,
)
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message

PROJECT = "/work/doctor-repair"


def _sql(db_path: Path, statement: str) -> list[tuple[object, ...]]:
    """Run one statement with plain sqlite3 (foreign keys not enforced), as another program would."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute(statement).fetchall()


def _head(storage: Path) -> tuple[bytes, str]:
    repo = Repo(str(storage))
    try:
        sha = repo.head()
        return sha, repo[sha].message.decode()  # type: ignore[attr-defined]
    finally:
        repo.close()


@pytest.fixture
async def settings(isolated_env) -> Settings:
    """A flushed mailbox: BlueLake wrote to RedFox."""
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "pytest", "m", name=name)
    await set_contact_policy(PROJECT, "RedFox", "open")
    await send_message(PROJECT, "BlueLake", ["RedFox"], "Zebra report", "The zebra numbers are in.")
    archive.flush_pending()
    return get_settings()


@pytest.fixture
def held_writer(settings: Settings) -> Iterator[None]:
    """Hold the archive writer lock in another thread (as a running writer would) for the test's duration."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(Path(settings.storage.root), 5.0) as acquired:
            assert acquired
            holding.set()
            done.wait(timeout=60)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert holding.wait(timeout=30)
        yield
    finally:
        done.set()
        worker.join(timeout=60)


async def test_a_healthy_mailbox_needs_no_repair_and_no_restore_point_is_saved(settings, tmp_path):
    report, actions = plan_repair(settings)
    assert actions == [] and report.has_errors is False
    outcome = execute_repair(settings, tmp_path / "states", report, actions)
    assert outcome.restore_point is None and outcome.after is None and outcome.failed is False
    assert not (tmp_path / "states").exists()


async def test_repair_saves_a_restore_point_first_then_fixes_what_was_planned(settings, isolated_env, tmp_path):
    storage = isolated_env["storage"]
    profile = next(storage.glob("projects/*/agents/RedFox/profile.json"))
    good = profile.read_bytes()
    profile.write_text("tampered\n")

    report, actions = plan_repair(settings)
    assert [a.check for a in actions] == ["archive"]
    assert profile.read_text() == "tampered\n"  # planning changed nothing

    states = tmp_path / "states"
    outcome = execute_repair(settings, states, report, actions)
    assert outcome.restore_point is not None and outcome.restore_point.parent == states
    assert outcome.restore_point.name.endswith("pre-repair.zip") and outcome.restore_point.is_file()
    assert actions[0].error == "" and actions[0].result == (
        "wrote 1 file, removed 0 files; work tree restored (the commit already held these files)"
    )
    assert outcome.after is not None and outcome.after.has_errors is False and outcome.failed is False
    assert profile.read_bytes() == good
    assert actions[0].to_dict()["check"] == "archive" and actions[0].to_dict()["result"] == actions[0].result


async def test_reprojecting_restores_the_work_tree_without_a_commit_when_head_already_holds_it(settings, isolated_env):
    storage = isolated_env["storage"]
    inbox_copy = next(storage.glob("projects/*/agents/RedFox/inbox/**/*.md"))
    expected = inbox_copy.read_bytes()
    inbox_copy.unlink()
    stray = inbox_copy.with_name(inbox_copy.name.rsplit("__", 1)[0] + "__9999.md")
    stray.write_bytes(expected)
    before = _head(storage)

    written, removed, sha = reproject_archive(settings)
    assert written == [inbox_copy.relative_to(storage).as_posix()]
    assert removed == [stray.relative_to(storage).as_posix()]
    assert sha is None and _head(storage) == before
    assert inbox_copy.read_bytes() == expected and not stray.exists()
    assert reproject_archive(settings) == ([], [], None)


async def test_reprojecting_commits_once_what_the_database_holds_and_head_does_not(settings, isolated_env):
    storage = isolated_env["storage"]
    update("agents", "name = :name", {"task_description": "changed behind the queue"}, name="RedFox")
    profile = next(storage.glob("projects/*/agents/RedFox/profile.json"))
    before, _ = _head(storage)

    written, removed, sha = reproject_archive(settings)
    assert written == [profile.relative_to(storage).as_posix()] and removed == []
    head, message = _head(storage)
    assert sha is not None and head.decode() == sha and head != before
    assert message == f"doctor: re-project archive (1 written, 0 removed)\n\n- write {written[0]}\n"
    assert "changed behind the queue" in profile.read_text()
    assert reproject_archive(settings) == ([], [], None) and _head(storage)[0] == head


@pytest.mark.sqlite_only  # PostgreSQL enforces foreign keys for every client, so it never holds such rows
async def test_deleting_orphans_removes_only_recipient_and_reservation_rows_that_point_nowhere(settings, isolated_env):
    db_path = isolated_env["db_path"]
    _sql(db_path, "INSERT INTO message_recipients(message_id, agent_id, kind) VALUES (1, 999, 'to')")
    _sql(db_path, "INSERT INTO message_recipients(message_id, agent_id, kind) VALUES (998, 1, 'cc')")
    _sql(db_path, "UPDATE messages SET sender_id = 997")
    kept = _sql(
        db_path, "SELECT message_id, agent_id FROM message_recipients WHERE agent_id != 999 AND message_id != 998"
    )

    assert delete_orphans(settings) == 2
    assert _sql(db_path, "SELECT message_id, agent_id FROM message_recipients") == kept
    assert _sql(db_path, "SELECT count(*) FROM messages") == [(1,)]  # a message is never deleted as an orphan
    assert delete_orphans(settings) == 0


async def test_stale_git_locks_are_removed_only_when_no_writer_holds_the_lock(settings, isolated_env, held_writer):
    lock = isolated_env["storage"] / ".git" / "index.lock"
    lock.write_bytes(b"")
    with pytest.raises(UnavailableError, match="archive writer is running") as refused:
        remove_stale_locks(isolated_env["storage"])
    assert refused.value.code == "UNAVAILABLE" and lock.exists()


async def test_stale_git_locks_without_a_writer_are_removed(settings, isolated_env):
    lock = isolated_env["storage"] / ".git" / "index.lock"
    lock.write_bytes(b"")
    assert remove_stale_locks(isolated_env["storage"]) == [".git/index.lock"]
    assert not lock.exists()
