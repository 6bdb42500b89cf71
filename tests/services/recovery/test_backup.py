"""Restore point internals: member-name safety, the server registry, rollback, and Git after a restore."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from typer.testing import CliRunner

from db_kit import count, digest, on_sqlite
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import reset_database_state
from mcp_agent_mail.errors import ServerRunningError, UnavailableError
from mcp_agent_mail.services.recovery.restore_points import save_restore_point
from mcp_agent_mail.services.recovery.server_registry import (
    ensure_no_servers,
    exclusive_mailbox,
    hold_server_registration,
    registry_paths,
    running_servers,
)
from mcp_agent_mail.services.recovery.zipsafe import check_member_name, verify_restore_point

PROJECT = "/work/backup-service"
runner = CliRunner()


@pytest.mark.parametrize(
    "name", ["../evil", "a/../../b", "/etc/passwd", "C:/x", "c:evil", "a\\b", "", "a//b", "./a", "x\x00y"]
)
def test_member_names_that_could_escape_are_rejected(name: str):
    with pytest.raises(ValueError):
        check_member_name(name)


@pytest.mark.parametrize("name", ["metadata.json", "snapshot/", "storage_repo/.git/HEAD", "storage_repo/a b/c..d"])
def test_ordinary_member_names_are_accepted(name: str):
    assert check_member_name(name) == name.rstrip("/")


async def _mailbox(*subjects: str) -> tuple[str, str]:
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
        for subject in subjects:
            await _send(c, names[0], names[1], subject)
    return names[0], names[1]


async def _send(c: Client, sender: str, to: str, subject: str) -> None:
    await c.call_tool(
        "send_message", {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": subject, "body_md": "x"}
    )


# ---------------------------------------------------------------------------- server registry


def test_registration_in_another_process_is_seen_and_blocks_restore(isolated_env):
    script = textwrap.dedent(
        """
        import sys
        from mcp_agent_mail.config import get_settings
        from mcp_agent_mail.services.recovery.server_registry import hold_server_registration
        with hold_server_registration(get_settings(), "stdio"):
            print("ready", flush=True)
            sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        settings = get_settings()
        servers = running_servers(settings)
        assert [(s["pid"], s["transport"]) for s in servers] == [(child.pid, "stdio")]
        assert servers[0]["started_at"].endswith("+00:00")
        with pytest.raises(ServerRunningError) as caught:
            ensure_no_servers(settings)
        assert caught.value.code == "SERVER_RUNNING" and f"pid {child.pid}" in (caught.value.hint or "")
        with pytest.raises(ServerRunningError), exclusive_mailbox(settings):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    # The OS released the dead process's lock; its leftover record is ignored and swept.
    assert list(registry_paths(get_settings()).sidecar_dir.glob("*.json"))
    assert running_servers(get_settings()) == []
    assert not list(registry_paths(get_settings()).sidecar_dir.glob("*.json"))


async def test_in_memory_mcp_session_registers_for_its_lifetime(isolated_env):
    settings = get_settings()
    async with Client(build_mcp_server()) as c:
        await c.call_tool("health_check", {})
        assert [(s["pid"], s["transport"]) for s in running_servers(settings)] == [(os.getpid(), "mcp")]
    assert running_servers(settings) == []


def test_a_server_cannot_start_while_a_restore_holds_the_mailbox(isolated_env):
    settings = get_settings()
    with exclusive_mailbox(settings), pytest.raises(UnavailableError):  # noqa: SIM117
        with hold_server_registration(settings, "mcp", wait_seconds=0.2):
            pass
    with hold_server_registration(settings, "mcp", wait_seconds=0.2) as record:
        assert record["pid"] == os.getpid()


# ---------------------------------------------------------------------------- save/restore internals


async def test_save_skips_git_locks_and_restore_drops_stale_ones(isolated_env, tmp_path: Path):
    await _mailbox("hello")
    settings = get_settings()
    storage = Path(settings.storage.root)
    (storage / ".git" / "index.lock").write_bytes(b"stale")
    saved = save_restore_point(settings, tmp_path / "states")
    with zipfile.ZipFile(saved.path) as zf:
        names = zf.namelist()
    assert "storage_repo/.git/HEAD" in names
    assert not [n for n in names if n.endswith(".lock")]
    # A restore point from elsewhere that does carry a stale lock is cleaned on the way in.
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(saved.path) as src, zipfile.ZipFile(crafted, "w") as out:
        metadata = json.loads(src.read("metadata.json"))
        for info in src.infolist():
            if info.filename != "metadata.json":
                out.writestr(info, src.read(info))
        out.writestr("storage_repo/.git/index.lock", b"stale")
        metadata["files"]["storage_repo/.git/index.lock"] = hashlib.sha256(b"stale").hexdigest()
        out.writestr("metadata.json", json.dumps(metadata))
    assert "storage_repo/.git/index.lock" in verify_restore_point(crafted).files
    result = runner.invoke(app, ["archive", "restore", str(crafted), "--force"])
    assert result.exit_code == 0, result.output
    assert (storage / ".git" / "HEAD").is_file()
    assert not (storage / ".git" / "index.lock").exists()


async def test_git_archive_takes_new_commits_after_restore(isolated_env, tmp_path: Path):
    writer, reader = await _mailbox("before")
    settings = get_settings()
    saved = save_restore_point(settings, tmp_path / "states")
    head = saved.metadata["storage"]["git_head"]
    assert head and Repo(settings.storage.root).head().decode() == head
    async with Client(build_mcp_server()) as c:
        await _send(c, writer, reader, "gone")
    assert runner.invoke(app, ["archive", "restore", str(saved.path), "--force"]).exit_code == 0
    assert Repo(settings.storage.root).head().decode() == head
    async with Client(build_mcp_server()) as c:
        await _send(c, writer, reader, "after")
    flush_pending(get_settings())
    with Repo(get_settings().storage.root) as repo:
        new_head = repo.head()
        assert new_head.decode() != head
        ancestors = {entry.commit.id.decode() for entry in repo.get_walker(include=[new_head])}
    assert head in ancestors
    assert count("archive_outbox") == 0


async def test_failure_while_placing_the_storage_undoes_the_database_swap(
    isolated_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    await _mailbox("kept")
    saved = save_restore_point(get_settings(), tmp_path / "states")
    async with Client(build_mcp_server()) as c:
        await c.call_tool("health_check", {})
    # Point the storage root at a name no filesystem accepts: nothing to move aside there, so the
    # database is swapped first and placing the storage then fails.
    monkeypatch.setenv("STORAGE_ROOT", str(tmp_path / ("x" * 300)))
    clear_settings_cache()
    reset_database_state()
    before = _database_fingerprint(isolated_env["db_path"])
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["archive", "restore", str(saved.path), "--force"])
    assert result.exit_code == 1, result.output
    assert "UNAVAILABLE" in result.output and "back in place" in result.output
    assert _database_fingerprint(isolated_env["db_path"]) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == [n for n in listing if n != "home"]


def _database_fingerprint(db_path: Path) -> str:
    """The database file's bytes on SQLite; every row of every table elsewhere."""
    return hashlib.sha256(db_path.read_bytes()).hexdigest() if on_sqlite() else digest(skip=())


async def test_save_while_a_server_writes_gives_a_consistent_snapshot(isolated_env, tmp_path: Path):
    writer, reader = await _mailbox("first")
    settings = get_settings()
    async with Client(build_mcp_server()) as c:

        async def keep_sending() -> int:
            sent = 0
            # Sends go on while the save runs; the cap lets a save that loses every race still finish.
            while not saving.done() and sent < 300:
                await _send(c, writer, reader, f"busy {sent}")
                sent += 1
            return sent

        saving = asyncio.ensure_future(asyncio.to_thread(save_restore_point, settings, tmp_path / "states"))
        sent = await keep_sending()
        saved = await saving
    assert sent >= 1
    snapshot = tmp_path / "snap.sqlite3"
    with zipfile.ZipFile(saved.path) as zf:
        snapshot.write_bytes(zf.read("snapshot/mailbox.sqlite3"))
    with sqlite3.connect(snapshot) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        recipients = conn.execute("SELECT COUNT(*) FROM message_recipients").fetchone()[0]
        conn.execute("INSERT INTO fts_messages(fts_messages) VALUES ('integrity-check')")  # raises if out of sync
    assert messages == recipients == saved.metadata["counts"]["messages"]
    assert 1 <= messages <= 1 + sent, (messages, sent)
