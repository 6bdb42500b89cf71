"""Hostile restore points: foreign schema objects, Git settings and links never survive a restore."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from db_kit import digest, on_sqlite, scalar
from db_kit import rows as table_rows
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.migrations import LATEST_VERSION, MIGRATIONS, migrate
from mcp_agent_mail.services.recovery.restore_git import CONFIG
from mcp_agent_mail.services.recovery.restore_points import save_restore_point

PROJECT = "/work/hostile-restore"
runner = CliRunner()
Members = dict[str, tuple[zipfile.ZipInfo, bytes]]


@pytest.fixture
def states(isolated_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "states"
    directory.mkdir()
    monkeypatch.setattr("mcp_agent_mail.cli._archive_states_dir", lambda create=True: directory)
    return directory


async def _send(c: Client, sender: str, to: str, subject: str) -> int:
    sent = await c.call_tool(
        "send_message", {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": subject, "body_md": "x"}
    )
    return int(sent.data["deliveries"][0]["payload"]["id"])


@pytest.fixture
async def saved(states: Path) -> dict[str, Any]:
    """A mailbox with two agents and one message, and a restore point of it."""
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
        await _send(c, names[0], names[1], "Saved before")
    point = save_restore_point(get_settings(), states)
    return {"path": point.path, "sender": names[0], "to": names[1], "head": point.metadata["storage"]["git_head"]}


def _db_path() -> Path:
    from mcp_agent_mail.cli import resolve_sqlite_database_path

    return resolve_sqlite_database_path()


def _fingerprint() -> dict[str, Any]:
    """The database (its file's bytes on SQLite, every row elsewhere), the storage root's files, the names beside."""
    storage = Path(get_settings().storage.root)
    beside = _db_path().parent if on_sqlite() else storage.parent
    return {
        "db": hashlib.sha256(_db_path().read_bytes()).hexdigest() if on_sqlite() else digest(skip=()),
        "storage": {
            p.relative_to(storage).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(storage.rglob("*"))
            if p.is_file()
        },
        "beside": sorted(p.name for p in beside.iterdir() if not p.name.endswith((".servers.lock", ".servers.d"))),
    }


def _messages() -> list[tuple[Any, ...]]:
    return table_rows("messages", "subject", "importance")


def _craft(source: Path, target: Path, change: Callable[[Members], None]) -> Path:
    """Copy a restore point, let ``change`` edit its members, and make metadata.json consistent again."""
    with zipfile.ZipFile(source) as src:
        metadata = json.loads(src.read("metadata.json"))
        members: Members = {i.filename: (i, src.read(i)) for i in src.infolist() if i.filename != "metadata.json"}
    change(members)
    metadata["files"] = {
        name: hashlib.sha256(data).hexdigest() for name, (info, data) in members.items() if not info.is_dir()
    }
    metadata["directories"] = [name.rstrip("/") for name, (info, _d) in members.items() if info.is_dir()]
    with zipfile.ZipFile(target, "w") as out:
        for info, data in members.values():
            out.writestr(info, data)
        out.writestr("metadata.json", json.dumps(metadata))
    return target


def _put(members: Members, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | mode) << 16
    members[name] = (info, data)


def _edit_snapshot(members: Members, tmp: Path, *statements: str) -> None:
    """Run SQL on the snapshot inside the restore point."""
    snap = tmp / "edit.sqlite3"
    snap.write_bytes(members["snapshot/mailbox.sqlite3"][1])
    with sqlite3.connect(snap) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    _put(members, "snapshot/mailbox.sqlite3", snap.read_bytes())
    snap.unlink()


def _restore(path: Path) -> Any:
    return runner.invoke(app, ["archive", "restore", str(path), "--force"])


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name").fetchall()
    conn.close()
    return rows


def _pristine_schema(tmp: Path) -> list[tuple[str, str, str]]:
    """The schema this version's migrations create in an empty database."""
    path = tmp / "pristine.sqlite3"
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with engine.begin() as conn:
        migrate(conn)
    engine.dispose()
    return _schema(path)


# ---------------------------------------------------------------------------- the database snapshot


async def test_foreign_triggers_views_and_tables_never_survive_a_restore(saved, tmp_path: Path):
    def poison(members: Members) -> None:
        _edit_snapshot(
            members,
            tmp_path,
            "CREATE TRIGGER rewrite_subject AFTER INSERT ON messages BEGIN "
            "UPDATE messages SET subject = 'rewritten' WHERE id = new.id; END",
            "DROP TRIGGER fts_messages_ai",
            "CREATE TRIGGER fts_messages_ai AFTER INSERT ON messages BEGIN "
            "UPDATE messages SET importance = 'urgent' WHERE id = new.id; END",
            "CREATE VIEW every_body AS SELECT body_md FROM messages",
            "CREATE TABLE stowaway (x TEXT)",
            "CREATE INDEX ix_stowaway ON stowaway (x)",
        )

    hostile = _craft(saved["path"], tmp_path / "hostile.zip", poison)
    result = _restore(hostile)
    assert result.exit_code == 0, result.output

    async with Client(build_mcp_server()) as c:
        new_id = await _send(c, saved["sender"], saved["to"], "Sent after the restore")
        found = await c.call_tool("search_messages", {"project_key": PROJECT, "query": "after"})
    assert _messages() == [("Saved before", "normal"), ("Sent after the restore", "normal")]
    assert [m["id"] for m in found.data] == [new_id]
    if on_sqlite():
        assert _schema(_db_path()) == _pristine_schema(tmp_path)
    assert "trigger rewrite_subject" in result.output and "view every_body" in result.output
    assert "table stowaway" in result.output and "trigger fts_messages_ai (replaced" in result.output


async def test_a_snapshot_of_an_older_schema_is_upgraded_with_all_its_rows(saved, tmp_path: Path):
    def downgrade(members: Members) -> None:
        # A mailbox as the first schema version made it, holding the same rows.
        old = tmp_path / "v1.sqlite3"
        engine = create_engine(f"sqlite:///{old}", poolclass=NullPool)
        with engine.begin() as conn:
            schema.metadata.create_all(conn, tables=[schema.schema_version])
            MIGRATIONS[0].apply(conn)
            conn.execute(
                schema.schema_version.insert().values(version=1, name=MIGRATIONS[0].name, applied_ts=datetime.now(UTC))
            )
        engine.dispose()
        snap = tmp_path / "snap.sqlite3"
        snap.write_bytes(members["snapshot/mailbox.sqlite3"][1])
        with sqlite3.connect(old) as raw:
            raw.execute("ATTACH DATABASE ? AS s", (str(snap),))
            for table in ("projects", "agents", "messages", "message_recipients"):
                columns = [r[1] for r in raw.execute(f"PRAGMA main.table_info({table})")]
                shared = [c for c in columns if c in {r[1] for r in raw.execute(f"PRAGMA s.table_info({table})")}]
                cols = ", ".join(shared)
                raw.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM s.{table}")
            raw.commit()
            raw.execute("DETACH DATABASE s")
        raw.close()
        _put(members, "snapshot/mailbox.sqlite3", old.read_bytes())

    older = _craft(saved["path"], tmp_path / "older.zip", downgrade)
    result = _restore(older)
    assert result.exit_code == 0, result.output
    if on_sqlite():
        assert _schema(_db_path()) == _pristine_schema(tmp_path)
    assert scalar("SELECT MAX(version) FROM schema_version") == LATEST_VERSION
    assert [row[0] for row in _messages()] == ["Saved before"]
    async with Client(build_mcp_server()) as c:
        found = await c.call_tool("search_messages", {"project_key": PROJECT, "query": "saved"})
    assert len(found.data) == 1


_UNUSABLE: dict[str, tuple[list[str], str]] = {
    "newer-schema": (
        [
            f"INSERT INTO schema_version (version, name, applied_ts) VALUES ({LATEST_VERSION + 1}, "
            "'from the future', '2030-01-01 00:00:00')"
        ],
        "newer than this program",
    ),
    "no-messages-table": (
        ["DROP TABLE message_recipients", "DROP TABLE messages", "CREATE VIEW messages AS SELECT 1 AS id"],
        "no messages table",
    ),
    "view-instead-of-table": (
        ["DROP TABLE attachment_blobs", "CREATE VIEW attachment_blobs AS SELECT 1 AS id"],
        "not an ordinary table",
    ),
    # The same project twice: this version's constraints refuse the rows.
    "broken-constraint": (
        [
            "CREATE TABLE p2 AS SELECT * FROM projects",
            "DROP TABLE projects",
            "ALTER TABLE p2 RENAME TO projects",
            "INSERT INTO projects SELECT * FROM projects",
        ],
        "do not fit this version's tables",
    ),
    "not-sqlite": ([], "not a usable SQLite database"),
}


@pytest.mark.parametrize("case", sorted(_UNUSABLE))
async def test_unusable_snapshots_are_refused_and_change_nothing(saved, tmp_path: Path, case: str):
    statements, reason = _UNUSABLE[case]

    def change(members: Members) -> None:
        if case == "not-sqlite":
            _put(members, "snapshot/mailbox.sqlite3", b"SQLite format 3\x00" + b"garbage" * 100)
        else:
            _edit_snapshot(members, tmp_path, *statements)

    bad = _craft(saved["path"], tmp_path / f"{case}.zip", change)
    before = _fingerprint()
    result = _restore(bad)
    assert result.exit_code == 1, result.output
    assert "ARCHIVE_INVALID" in result.output and reason in result.output, result.output
    if case == "newer-schema":
        assert "Upgrade mcp-agent-mail" in result.output
    assert _fingerprint() == before
    assert not list(tmp_path.glob(".restore-*"))


# ---------------------------------------------------------------------------- the Git archive


async def test_git_config_is_rewritten_so_nothing_is_written_outside_the_storage_root(saved, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile_config = (
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        f"\tworktree = {outside}\n\thooksPath = {outside}\n\tfsmonitor = {outside}/monitor\n"
        f"\tsshCommand = {outside}/ssh\n[alias]\n\tst = !touch {outside}/alias\n"
        f'[include]\n\tpath = {outside}/more.config\n[filter "x"]\n\tclean = touch {outside}/filter\n'
        '[remote "origin"]\n\turl = https://example.invalid/repo.git\n'
    )

    def poison(members: Members) -> None:
        _put(members, "storage_repo/.git/config", hostile_config.encode())
        _put(members, "storage_repo/.git/hooks/post-commit", f"#!/bin/sh\ntouch {outside}/hook\n".encode(), 0o755)
        _put(members, "storage_repo/.gitattributes", b"* filter=x\n")
        _put(members, "storage_repo/tool.sh", b"#!/bin/sh\necho hi\n", 0o755)
        _put(members, "storage_repo/.git/FETCH_HEAD", b"0" * 40 + b"\n")

    hostile = _craft(saved["path"], tmp_path / "hostile.zip", poison)
    result = _restore(hostile)
    assert result.exit_code == 0, result.output
    storage = Path(get_settings().storage.root)

    async with Client(build_mcp_server()) as c:
        await _send(c, saved["sender"], saved["to"], "Written after the restore")
    flush_pending(get_settings())
    assert list(outside.iterdir()) == []
    assert any("written-after-the-restore" in p.name for p in storage.rglob("*.md"))
    with Repo(str(storage)) as repo:
        assert repo.path == str(storage)
        assert repo.head().decode() != saved["head"]

    git_dir = storage / ".git"
    assert (git_dir / "config").read_text() == CONFIG
    assert list((git_dir / "hooks").iterdir()) == []
    assert not (git_dir / "FETCH_HEAD").exists()
    assert not os.stat(storage / "tool.sh").st_mode & 0o111
    for key in (
        "core.worktree",
        "core.hookspath",
        "core.fsmonitor",
        "core.sshcommand",
        "alias.st",
        "include.path",
        "filter.x.clean",
        "remote.origin.url",
    ):
        assert key in result.output, key
    assert "post-commit" in result.output


def _git_dir_as_file(members: Members) -> None:
    for name in [n for n in members if n.startswith("storage_repo/.git/") or n == "storage_repo/.git/"]:
        del members[name]
    _put(members, "storage_repo/.git", b"gitdir: /somewhere/else/.git\n")


_REFUSED: dict[str, tuple[Callable[[Members], None], str]] = {
    "git-file": (_git_dir_as_file, ".git is a file"),
    "alternates": (
        lambda m: _put(m, "storage_repo/.git/objects/info/alternates", b"/elsewhere/objects\n"),
        "another repository",
    ),
    "commondir": (lambda m: _put(m, "storage_repo/.git/commondir", b"/elsewhere/.git\n"), "another repository"),
    "worktrees": (lambda m: _put(m, "storage_repo/.git/worktrees/w/gitdir", b"/elsewhere\n"), "another repository"),
    "nested-git": (lambda m: _put(m, "storage_repo/projects/.git/config", b"[core]\n"), "Git directory inside"),
    "upper-git": (lambda m: _put(m, "storage_repo/.GIT/config", b"[core]\n"), "Git directory inside"),
    "head-escapes": (
        lambda m: _put(m, "storage_repo/.git/HEAD", b"ref: refs/heads/../../../../outside\n"),
        "neither a commit id",
    ),
    "ref-escapes": (
        lambda m: _put(m, "storage_repo/.git/refs/heads/evil", b"ref: ../../../outside\n"),
        "neither a commit id",
    ),
    "packed-refs": (lambda m: _put(m, "storage_repo/.git/packed-refs", b"0" * 40 + b" ../../outside\n"), "packed-refs"),
}


@pytest.mark.parametrize("case", sorted(_REFUSED))
async def test_git_links_to_other_places_are_refused_and_change_nothing(saved, tmp_path: Path, case: str):
    change, reason = _REFUSED[case]
    bad = _craft(saved["path"], tmp_path / f"{case}.zip", change)
    before = _fingerprint()
    result = _restore(bad)
    assert result.exit_code == 1, result.output
    assert "ARCHIVE_INVALID" in result.output and reason in result.output, result.output
    assert _fingerprint() == before
    assert not list(tmp_path.glob(".restore-*"))
    # The mailbox still saves and writes its archive.
    async with Client(build_mcp_server()) as c:
        await _send(c, saved["sender"], saved["to"], "Still working")
    flush_pending(get_settings())
    assert runner.invoke(app, ["archive", "save"]).exit_code == 0
