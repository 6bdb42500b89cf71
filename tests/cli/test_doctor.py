"""``doctor check | repair`` through Typer's CliRunner on a real database and a real Git archive."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from db_kit import current_url, on_sqlite
from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive.on_disk import worktree_paths
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import reset_database_state, sync_write_connection
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.db.fulltext import pg as pg_fulltext
from pg_cluster import on_postgresql

PROJECT = "/work/doctor-demo"
runner = CliRunner()


@pytest.fixture
def states(isolated_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "states"
    monkeypatch.setattr("mcp_agent_mail.cli._archive_states_dir", lambda create=True: directory)
    return directory


async def populate() -> dict[str, Any]:
    """Mail with cc, bcc, a reply, receipts and reservations, all flushed to the archive."""
    async with Client(build_mcp_server()) as c:

        async def call(tool: str, **args: Any) -> Any:
            return (await c.call_tool(tool, args)).data

        await call("ensure_project", human_key=PROJECT)
        names = [
            (await call("create_agent_identity", project_key=PROJECT, program="pytest", model="m"))["name"]
            for _ in range(3)
        ]
        a, b, c3 = names
        sent = await call(
            "send_message",
            project_key=PROJECT,
            sender_name=a,
            to=[b],
            cc=[c3],
            bcc=[a],
            subject="Quarterly zebra report",
            body_md="The zebra numbers are in.",
        )
        first = sent["deliveries"][0]["payload"]["id"]
        await call("reply_message", project_key=PROJECT, message_id=first, sender_name=b, body_md="Thanks")
        await call("mark_message_read", project_key=PROJECT, agent_name=c3, message_id=first)
        await call("acknowledge_message", project_key=PROJECT, agent_name=b, message_id=first)
        await call("file_reservation_paths", project_key=PROJECT, agent_name=a, paths=["src/*.py"])
        await call("release_file_reservations", project_key=PROJECT, agent_name=a)
    archive.flush_pending()
    return {"names": names, "first": first}


def lose_database(db_path: Path) -> None:
    """Lose the database: its file on SQLite, every table elsewhere."""
    reset_database_state()
    archive.clear_repo_cache()
    if on_sqlite():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(parse_database_url(current_url()).sync_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    reset_database_state()


def check_json() -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["doctor", "check", "--json"])
    return result.exit_code, json.loads(result.output)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in report["findings"]}


def head(storage: Path) -> bytes:
    repo = Repo(str(storage))
    try:
        return repo.head()
    finally:
        repo.close()


def tree_snapshot(storage: Path) -> dict[str, bytes]:
    return {p: (storage / p).read_bytes() for p in worktree_paths(storage)}


async def search(query: str) -> list[int]:
    async with Client(build_mcp_server()) as c:
        found = (await c.call_tool("search_messages", {"project_key": PROJECT, "query": query})).data
    found = found["result"] if isinstance(found, dict) else found
    return [m["id"] for m in found]


async def test_check_json_shape_on_a_healthy_mailbox(states):
    await populate()
    code, report = check_json()
    assert code == 0
    assert set(report) == {"findings", "summary"}
    assert set(report["summary"]) == {"ok", "warning", "error"}
    assert report["summary"]["error"] == 0 and report["summary"]["warning"] == 0
    for finding in report["findings"]:
        assert set(finding) == {"name", "status", "message", "details", "repairable"}
        assert finding["status"] in ("ok", "warning", "error")
    assert {
        "database",
        "schema",
        "fts_index",
        "archive",
        "archive_queue",
        "archive_failed",
        "locks",
        "orphans",
        "servers",
    } <= set(by_name(report))
    text = runner.invoke(app, ["doctor", "check"])
    assert text.exit_code == 0 and "Summary: 9 ok, 0 warnings, 0 errors." in text.output


async def test_repair_restores_archive_files_after_dry_run_changes_nothing(states, isolated_env):
    storage = isolated_env["storage"]
    await populate()
    good = tree_snapshot(storage)
    commit = head(storage)
    inbox_copy = next(p for p in good if "/inbox/" in p)
    canonical = next(p for p in good if "/messages/2" in p)
    (storage / inbox_copy).unlink()
    (storage / canonical).write_bytes(b"tampered\n")
    stray = inbox_copy.rsplit("__", 1)[0] + "__9999.md"
    (storage / stray).write_bytes((storage / canonical).read_bytes())

    code, report = check_json()
    assert code == 1
    found = by_name(report)["archive"]
    assert found["status"] == "error" and found["repairable"] is True
    assert found["details"]["missing_worktree_sample"] == [inbox_copy]
    assert found["details"]["differ_worktree_sample"] == [canonical]
    assert found["details"]["extra_sample"] == [stray]

    damaged = tree_snapshot(storage)
    dry = runner.invoke(app, ["doctor", "repair", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "archive: re-project" in dry.output and "nothing was changed" in dry.output
    assert tree_snapshot(storage) == damaged and head(storage) == commit
    assert not states.exists() or not list(states.iterdir())

    fixed = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed archive: wrote 2 files, removed 1 file" in fixed.output
    assert tree_snapshot(storage) == good
    assert [p.name for p in states.glob("*pre-repair.zip")], fixed.output
    assert "Summary: 9 ok, 0 warnings, 0 errors." in fixed.output
    assert check_json()[0] == 0


@pytest.mark.sqlite_only  # takes one message out of SQLite's FTS5 index by hand
async def test_repair_rebuilds_a_stale_search_index(states):
    data = await populate()
    assert await search("numbers") == [data["first"]]
    with sync_write_connection() as conn:
        subject, body = conn.exec_driver_sql(
            "SELECT subject, body_md FROM messages WHERE id = ?", (data["first"],)
        ).one()
        conn.exec_driver_sql(
            "INSERT INTO fts_messages(fts_messages, rowid, subject, body_md) VALUES ('delete', ?, ?, ?)",
            (data["first"], subject, body),
        )
    assert await search("numbers") == []
    code, report = check_json()
    fts = by_name(report)["fts_index"]
    assert code == 1 and fts["status"] == "error" and fts["details"]["missing_ids_sample"] == [data["first"]]

    fixed = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed fts_index" in fixed.output
    assert await search("numbers") == [data["first"]]


async def test_stale_git_lock_is_reported_and_removed(states, isolated_env):
    storage = isolated_env["storage"]
    await populate()
    lock = storage / ".git" / "index.lock"
    lock.write_bytes(b"")
    code, report = check_json()
    locks = by_name(report)["locks"]
    assert code == 1 and locks["status"] == "error" and locks["details"]["stale"] == [".git/index.lock"]
    fixed = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed locks: removed .git/index.lock" in fixed.output
    assert not lock.exists()


HOLD_WRITER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


async def test_lock_of_a_live_writer_is_not_stale(states, isolated_env):
    storage = isolated_env["storage"]
    await populate()
    lock = storage / ".git" / "index.lock"
    lock.write_bytes(b"")
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(storage / ".git" / "mcp-agent-mail-writer.lock")],
        stdout=subprocess.PIPE,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"held\n"
        code, report = check_json()
        locks = by_name(report)["locks"]
        assert code == 0 and locks["status"] == "ok" and locks["details"]["held"] == [".git/index.lock"]
        repaired = runner.invoke(app, ["doctor", "repair", "--yes"])
        assert repaired.exit_code == 0 and "Nothing to repair." in repaired.output
        assert lock.exists()
    finally:
        writer.kill()
        writer.wait(timeout=10)
    deadline = time.monotonic() + 5
    while by_name(check_json()[1])["locks"]["status"] != "error" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert by_name(check_json()[1])["locks"]["status"] == "error"


@pytest.mark.sqlite_only  # a missing database is a missing file
async def test_check_reports_a_missing_database_without_creating_it(states, isolated_env):
    db_path = isolated_env["db_path"]
    await populate()
    reset_database_state()
    archive.clear_repo_cache()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    code, report = check_json()
    database = by_name(report)["database"]
    assert code == 1 and database["status"] == "error" and "rebuild-db" in database["details"]["hint"]
    assert not db_path.exists()
    repaired = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert repaired.exit_code == 1 and "Nothing here can be repaired automatically." in repaired.output
    assert not db_path.exists()


async def test_a_storage_root_that_is_a_file_is_an_error_and_repair_and_save_refuse_it(
    states, isolated_env, monkeypatch: pytest.MonkeyPatch
):
    await populate()
    blocker = isolated_env["tmp_path"] / "archive-is-a-file"
    blocker.write_text("notes\n")
    monkeypatch.setenv("STORAGE_ROOT", str(blocker))
    clear_settings_cache()
    code, report = check_json()
    found = by_name(report)["archive"]
    assert code == 1 and found["status"] == "error" and found["repairable"] is False
    assert found["message"] == f"STORAGE_ROOT {blocker} is a file, not a directory."
    assert found["details"]["hint"].startswith("Point STORAGE_ROOT at a directory")
    for command in (["doctor", "repair", "--yes"], ["archive", "save"]):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 1, refused.output
        assert refused.stderr.startswith(f"CONFIGURATION_ERROR: STORAGE_ROOT {blocker} is a file")
        assert "Traceback" not in refused.output
    assert blocker.read_text() == "notes\n"
    assert not states.exists() or not any(states.iterdir()), "a restore point was saved"


async def test_old_pending_outbox_rows_are_flushed_by_repair(states, isolated_env):
    await populate()
    with sync_write_connection() as conn:
        conn.execute(
            text("INSERT INTO archive_outbox(project_id, kind, ref, created_ts) VALUES (1, 'project', '1', :ts)"),
            {"ts": "2020-01-01 00:00:00.000000"},
        )
    code, report = check_json()
    queue = by_name(report)["archive_queue"]
    assert code == 0 and queue["status"] == "warning" and queue["details"]["pending"] == 1
    fixed = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert fixed.exit_code == 0, fixed.output
    assert archive.pending_count() == 0


async def test_failed_archive_changes_are_reported_and_retried_by_repair(states, isolated_env):
    storage = isolated_env["storage"]
    await populate()
    blocker = storage / "projects/work-doctor-demo/agents/GreenCastle/profile.json"
    blocker.mkdir(parents=True)
    async with Client(build_mcp_server()) as c:
        registered = (
            await c.call_tool(
                "register_agent", {"project_key": PROJECT, "program": "pytest", "model": "m", "name": "GreenCastle"}
            )
        ).data
    archive.flush_pending()
    code, report = check_json()
    failed = by_name(report)["archive_failed"]
    assert code == 1 and failed["status"] == "error" and failed["repairable"] is True
    assert failed["details"]["failed"] == 1
    [change] = failed["details"]["changes"]
    assert change.startswith(f"agent {registered['id']} (outbox row ")
    assert change.endswith(f"1 attempt): IsADirectoryError: Is a directory: {blocker}")
    assert by_name(report)["archive_queue"]["details"]["pending"] == 0
    text = runner.invoke(app, ["doctor", "check"])
    assert "archive_failed: 1 archive change could not be written" in text.output
    assert "GreenCastle/profile.json" in text.output

    still = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert still.exit_code == 1, still.output
    assert (
        "FAILED archive_failed: UNAVAILABLE: wrote 0 of 1 failed archive change; 1 still fail: agent "
        f"{registered['id']}"
    ) in still.output
    assert archive.pending_count() == 1

    blocker.rmdir()
    fixed = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed archive_failed: wrote 1 failed archive change" in fixed.output
    assert archive.pending_count() == 0
    assert (storage / "projects/work-doctor-demo/agents/GreenCastle/profile.json").is_file()
    assert check_json()[0] == 0


async def test_rebuild_db_reports_recovered_links_and_attachment_blobs(states, isolated_env):
    data = await populate()
    a, b, _ = data["names"]
    async with Client(build_mcp_server()) as c:
        await c.call_tool("request_contact", {"project_key": PROJECT, "from_agent": a, "to_agent": b, "reason": "sync"})
    archive.flush_pending()
    lose_database(isolated_env["db_path"])
    result = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert result.exit_code == 0, result.output
    recovered = next(line for line in result.output.splitlines() if "Recovered:" in line)
    assert "Also 1 contact link and 0 attachment blobs." in recovered


async def test_rebuild_db_counts_read_in_the_singular_for_one(states, isolated_env):
    await populate()
    archive.flush_pending()
    lose_database(isolated_env["db_path"])
    result = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert result.exit_code == 0, result.output
    recovered = next(line for line in result.output.splitlines() if "Recovered:" in line)
    assert recovered.strip().startswith("Recovered: 1 project, 3 agents, ")


@pytest.mark.skipif(not on_postgresql(), reason="a PostgreSQL database that does not exist on its server")
def test_check_reports_a_database_that_cannot_be_reached(states, monkeypatch: pytest.MonkeyPatch):
    missing = make_url(current_url()).set(database="no_such_mailbox")
    monkeypatch.setenv("DATABASE_URL", missing.render_as_string(hide_password=False))
    clear_settings_cache()
    reset_database_state()
    code, report = check_json()
    database = by_name(report)["database"]
    assert code == 1 and database["status"] == "error"
    assert "cannot be read" in database["message"] and "no_such_mailbox" in database["message"]
    assert "rebuild-db" in database["details"]["hint"]
    assert "mcp_agent_mail:mcp_agent_mail@" not in json.dumps(report)  # never the password


@pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL's full-text index is a column of messages")
async def test_repair_rebuilds_a_stale_postgresql_search_index(states):
    data = await populate()
    with sync_write_connection() as conn:
        conn.execute(text(f"ALTER TABLE messages DISABLE TRIGGER {pg_fulltext.TRIGGER}"))
        conn.execute(text(f"UPDATE messages SET {pg_fulltext.COLUMN} = NULL WHERE id = :id"), {"id": data["first"]})
        conn.execute(text(f"ALTER TABLE messages ENABLE TRIGGER {pg_fulltext.TRIGGER}"))
    assert await search("numbers") == []
    code, report = check_json()
    fts = by_name(report)["fts_index"]
    assert code == 1 and fts["status"] == "error" and fts["repairable"] is True
    assert fts["details"] == {"messages": 2, "indexed": 1}

    fixed = runner.invoke(app, ["doctor", "repair", "--yes"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed fts_index: index rebuilt (2 messages)" in fixed.output
    assert await search("numbers") == [data["first"]]
