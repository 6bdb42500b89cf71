"""Crash-safe restores: ``archive restore`` killed at each step is finished (or undone) by the next command.

Each test runs the real command in a subprocess that SIGKILLs itself right after
a named step (the ``MCP_AGENT_MAIL_TEST_CRASH_AT`` test hook), then lets the next
command that opens the mailbox (``doctor check`` in a subprocess, or an MCP
session in this process) find the journal.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from typer.testing import CliRunner

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import clear_repo_cache, flush_pending
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import reset_database_state
from mcp_agent_mail.db.restore_journal import (
    CRASH_ENV,
    Journal,
    Step,
    finish_interrupted_restore,
    journal_path,
)
from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.services.recovery.restore_points import save_restore_point
from mcp_agent_mail.services.recovery.staging import OWNER_FILE, staging_dir

pytestmark = pytest.mark.sqlite_only

PROJECT = "/work/restore-journal"
RUN_TIMEOUT_S = 120
runner = CliRunner()

# Every step of a restore after which it can be killed, in order.
FORWARD_STEPS = [
    "staged",
    "journal",
    "aside:database",
    "aside:database-wal",
    "aside:database-shm",
    "aside:storage",
    "linked:database",
    "placed:database",
    "placed:storage",
    "done",
]
WITH_JOURNAL = FORWARD_STEPS[1:-1]


@pytest.fixture
def states(isolated_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "states"
    directory.mkdir()
    monkeypatch.setattr("mcp_agent_mail.cli._archive_states_dir", lambda create=True: directory)
    return directory


def _db_path() -> Path:
    from mcp_agent_mail.cli import resolve_sqlite_database_path

    return resolve_sqlite_database_path()


def _subjects(db: Path | None = None) -> list[str]:
    conn = sqlite3.connect(f"file:{db or _db_path()}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT subject FROM messages ORDER BY id")]
    finally:
        conn.close()


def _head() -> str:
    with Repo(str(get_settings().storage.root)) as repo:
        return repo.head().decode()


def _run(*args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "mcp_agent_mail", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def _leave_wal_behind() -> None:
    """Kill a reader of the database so its ``-wal`` and ``-shm`` stay on disk, as after a crashed server."""
    script = (
        "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('SELECT count(*) FROM messages').fetchall(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", script, str(_db_path())], check=True, timeout=RUN_TIMEOUT_S)
    assert Path(f"{_db_path()}-wal").exists() and Path(f"{_db_path()}-shm").exists()


@pytest.fixture
async def scene(states: Path) -> dict[str, Any]:
    """A restore point holding one message, a mailbox that has moved on since, and both states' fingerprints."""
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        names = []
        for task in ("one", "two"):
            agent = await c.call_tool(
                "create_agent_identity",
                {"project_key": PROJECT, "program": "pytest", "model": "m", "task_description": task},
            )
            names.append(agent.data["name"])
            await c.call_tool(
                "set_contact_policy", {"project_key": PROJECT, "agent_name": agent.data["name"], "policy": "open"}
            )
        body = {"project_key": PROJECT, "sender_name": names[0], "to": [names[1]], "body_md": "x"}
        await c.call_tool("send_message", {**body, "subject": "Saved"})
        point = save_restore_point(get_settings(), states)
        await c.call_tool("send_message", {**body, "subject": "After save"})
    flush_pending(get_settings())
    reset_database_state()
    clear_repo_cache()
    scene = {
        "point": point.path,
        "new": (["Saved"], point.metadata["storage"]["git_head"]),
        "old": (_subjects(), _head()),
        "agent": names[1],
    }
    _leave_wal_behind()
    return scene


def _state() -> tuple[list[str], str]:
    return _subjects(), _head()


def _backups() -> list[Path]:
    db = _db_path()
    return sorted(p for p in db.parent.glob(f"{db.name}.backup-*") if not p.name.endswith(("-wal", "-shm")))


def _doctor_check() -> dict[str, Any]:
    done = _run("doctor", "check", "--json")
    assert done.returncode in (0, 1), done.stderr
    return {f["name"]: f for f in json.loads(done.stdout)["findings"]}


async def _open_mailbox(agent: str) -> list[str]:
    reset_database_state()
    clear_settings_cache()
    async with Client(build_mcp_server()) as c:
        inbox = await c.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": agent})
    return [m["subject"] for m in inbox.data]


# ---------------------------------------------------------------------------- killed at each step


@pytest.mark.slow
@pytest.mark.parametrize("step", FORWARD_STEPS)
async def test_restore_killed_at_each_step_is_finished_by_doctor_check(scene, step: str):
    killed = _run("archive", "restore", str(scene["point"]), "--force", crash_at=step)
    assert killed.returncode == -signal.SIGKILL, (step, killed.stdout, killed.stderr)
    assert journal_path(_db_path()).exists() == (step in WITH_JOURNAL)

    findings = _doctor_check()
    assert not journal_path(_db_path()).exists()
    if step == "staged":  # killed before anything was moved: the mailbox is the old one, untouched
        assert "restore" not in findings
        assert _state() == scene["old"] and not _backups()
        return
    if step in WITH_JOURNAL:
        assert findings["restore"]["status"] == "warning"
        assert findings["restore"]["message"].startswith("Finished the restore of " + scene["point"].name)
    assert _state() == scene["new"]
    [backup] = _backups()
    assert _subjects(backup) == scene["old"][0]
    assert findings["database"]["status"] == "ok" and findings["archive"]["status"] == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("step", ["journal", "aside:database-shm", "linked:database", "placed:database"])
async def test_the_next_mcp_session_finishes_a_killed_restore_before_it_opens_the_database(scene, step: str):
    killed = _run("archive", "restore", str(scene["point"]), "--force", crash_at=step)
    assert killed.returncode == -signal.SIGKILL, (step, killed.stdout, killed.stderr)
    assert await _open_mailbox(scene["agent"]) == ["Saved"]
    assert not journal_path(_db_path()).exists()
    assert _state() == scene["new"]
    assert len(_backups()) == 1


@pytest.mark.slow
async def test_a_command_that_only_opens_the_database_finishes_a_killed_restore_first(scene):
    assert _run("archive", "restore", str(scene["point"]), "--force", crash_at="aside:database").returncode < 0
    assert not _db_path().exists()  # without the journal, opening it now would start an empty mailbox
    migrated = _run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "Finished the restore of" in migrated.stderr
    assert not journal_path(_db_path()).exists()
    assert _state() == scene["new"]


@pytest.mark.slow
async def test_a_recovery_that_is_killed_too_is_finished_by_the_next_one(scene):
    assert _run("archive", "restore", str(scene["point"]), "--force", crash_at="aside:storage").returncode < 0
    assert _run("doctor", "check", crash_at="placed:database").returncode == -signal.SIGKILL
    assert journal_path(_db_path()).exists()
    assert _doctor_check()["restore"]["status"] == "warning"
    assert _state() == scene["new"]


# ---------------------------------------------------------------------------- killed while undoing


@pytest.fixture
async def unplaceable(scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The scene, with a storage root whose name leaves no room for a backup suffix: the swap fails there."""
    storage = tmp_path / ("s" * 240)
    os.rename(get_settings().storage.root, storage)
    monkeypatch.setenv("STORAGE_ROOT", str(storage))
    clear_settings_cache()
    return scene


@pytest.mark.slow
@pytest.mark.parametrize("step", ["journal-back", "back:database-shm", "back:database-wal", "back:database"])
async def test_restore_killed_while_undoing_a_failure_is_undone_by_the_next_command(unplaceable, step: str):
    killed = _run("archive", "restore", str(unplaceable["point"]), "--force", crash_at=step)
    assert killed.returncode == -signal.SIGKILL, (step, killed.stdout, killed.stderr)
    finding = _doctor_check()["restore"]
    assert finding["message"].startswith("Undid the restore of ")
    assert not journal_path(_db_path()).exists()
    assert _state() == unplaceable["old"] and not _backups()


@pytest.mark.slow
async def test_a_killed_restore_that_cannot_be_finished_is_undone(unplaceable):
    killed = _run("archive", "restore", str(unplaceable["point"]), "--force", crash_at="aside:database")
    assert killed.returncode == -signal.SIGKILL
    assert not _db_path().exists()  # the database is set aside; only the journal knows where
    assert _doctor_check()["restore"]["message"].startswith("Undid the restore of ")
    assert _state() == unplaceable["old"] and not _backups()


async def test_an_uninterrupted_failure_still_puts_everything_back(unplaceable):
    done = _run("archive", "restore", str(unplaceable["point"]), "--force")
    assert done.returncode == 1 and "back in place" in done.stderr
    assert not journal_path(_db_path()).exists()
    assert _state() == unplaceable["old"] and not _backups()


# ---------------------------------------------------------------------------- a restore that is running


def test_a_running_restore_is_waited_for_not_replayed(isolated_env, tmp_path: Path):
    db = _db_path()
    db.write_bytes(b"current")
    with staging_dir(tmp_path, ".restore-") as stage:
        staged = stage.path / "new.sqlite3"
        staged.write_bytes(b"restored")
        journal = Journal(
            db,
            "point.zip",
            [Step("database", db, Path(f"{db}.backup-x"))],
            [Step("database", staged, db)],
            [stage.path],
        )
        journal.create()
        with pytest.raises(UnavailableError, match="in progress"):
            finish_interrupted_restore(db, wait_seconds=0)
        assert db.read_bytes() == b"current" and journal.path.exists()
        stage.keep = True
    # Its process is gone now (the lock is free): the next caller finishes it.
    assert finish_interrupted_restore(db, wait_seconds=0) is not None
    assert db.read_bytes() == b"restored" and Path(f"{db}.backup-x").read_bytes() == b"current"
    assert not journal.path.exists() and not stage.path.exists()


# ---------------------------------------------------------------------------- working folders of killed runs


@pytest.mark.slow
async def test_folders_of_killed_saves_and_restores_are_removed_by_the_next_run(scene, monkeypatch: pytest.MonkeyPatch):
    states = get_settings().data_dir / "archived_mailbox_states"  # where the commands in subprocesses save
    monkeypatch.setattr("mcp_agent_mail.cli._archive_states_dir", lambda create=True: states)
    assert _run("archive", "restore", str(scene["point"]), "--force", crash_at="staged").returncode < 0
    save = _run("archive", "save", crash_at="save:written")
    assert save.returncode == -signal.SIGKILL, save.stderr
    db_dir = _db_path().parent
    [killed_restore] = list(db_dir.glob(".restore-*"))
    [killed_save] = list(states.glob(".save-*"))
    assert list(killed_save.glob("*.zip.partial"))
    with staging_dir(states, ".save-") as live_save, staging_dir(db_dir, ".restore-") as live_restore:
        findings = _doctor_check()
        assert findings["staging"]["status"] == "warning"
        assert set(findings["staging"]["details"]["folders"]) == {str(killed_restore), str(killed_save)}
        assert runner.invoke(app, ["archive", "save"]).exit_code == 0
        assert list(states.glob(".save-*")) == [live_save.path]
        result = runner.invoke(app, ["archive", "restore", str(scene["point"]), "--force"])
        assert result.exit_code == 0, result.output
        assert f"Removed {killed_restore}" in result.output
        assert list(db_dir.glob(".restore-*")) == [live_restore.path]
    assert not list(db_dir.glob(".restore-*")) and not list(states.glob(".save-*"))
    assert "staging" not in _doctor_check()


@pytest.mark.slow
async def test_doctor_repair_removes_folders_of_killed_restores(scene):
    assert _run("archive", "restore", str(scene["point"]), "--force", crash_at="done").returncode < 0
    db_dir = _db_path().parent
    assert len(list(db_dir.glob(".restore-*"))) == 1
    result = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert "fixed staging: removed 1 folder" in result.output, result.output
    assert not list(db_dir.glob(".restore-*"))
    assert _state() == scene["new"]


def test_a_folder_without_an_owner_is_removed_only_once_it_is_old(isolated_env, tmp_path: Path):
    from mcp_agent_mail.services.recovery.staging import sweep_abandoned

    young = tmp_path / ".restore-young"
    old = tmp_path / ".restore-old"
    for folder in (young, old):
        folder.mkdir()
        (folder / "data").write_text("x")
    long_ago = time.time() - 7 * 24 * 3600
    os.utime(old, (long_ago, long_ago))
    assert sweep_abandoned(tmp_path, ".restore-") == [old]
    assert young.exists() and not old.exists()
    (young / OWNER_FILE).write_text("1\n")
    assert sweep_abandoned(tmp_path, ".restore-") == [young]
