"""``archive save | list | restore`` through Typer's CliRunner, on real files and databases of either backend."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from typer.testing import CliRunner

from db_kit import count, digest, on_sqlite
from db_kit import rows as table_rows
from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import reset_database_state, schema
from mcp_agent_mail.services.recovery.restore_points import database_label
from mcp_agent_mail.services.recovery.server_registry import hold_server_registration

PROJECT = "/work/restore-points"
runner = CliRunner()


@pytest.fixture
def states(isolated_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "states"
    directory.mkdir()
    monkeypatch.setattr("mcp_agent_mail.cli._archive_states_dir", lambda create=True: directory)
    return directory


async def _make_agents(c: Client | None = None, *subjects: str) -> tuple[str, str]:
    """Create a writer and a reader (open contact policy); the writer sends ``subjects`` in turn with the reader."""
    if c is None:
        async with Client(build_mcp_server()) as client:
            return await _make_agents(client, *subjects)
    await c.call_tool("ensure_project", {"human_key": PROJECT})
    names = []
    for task in ("writer", "reader"):
        agent = await c.call_tool(
            "create_agent_identity",
            {"project_key": PROJECT, "program": "pytest", "model": "test", "task_description": task},
        )
        names.append(agent.data["name"])
    for name in names:
        await c.call_tool("set_contact_policy", {"project_key": PROJECT, "agent_name": name, "policy": "open"})
    for n, subject in enumerate(subjects):
        await _send(names[n % 2], names[(n + 1) % 2], subject, c)
    return names[0], names[1]


async def _send(sender: str, to: str, subject: str, c: Client | None = None) -> int:
    if c is None:
        async with Client(build_mcp_server()) as client:
            return await _send(sender, to, subject, client)
    result = await c.call_tool(
        "send_message",
        {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": subject, "body_md": subject},
    )
    return int(result.data["deliveries"][0]["payload"]["id"])


def _db_path() -> Path:
    from mcp_agent_mail.cli import resolve_sqlite_database_path

    return resolve_sqlite_database_path()


def _subjects() -> list[str]:
    return [row[0] for row in table_rows("messages", "subject")]


def _database_fingerprint() -> str | None:
    """The database file's bytes on SQLite (None when missing); every row of every table elsewhere."""
    if not on_sqlite():
        return digest(skip=())
    db = _db_path()
    return hashlib.sha256(db.read_bytes()).hexdigest() if db.exists() else None


def _fingerprint() -> dict[str, Any]:
    """Everything a restore could change: the database and every file under the data directories."""
    storage = Path(get_settings().storage.root)
    beside = _db_path().parent if on_sqlite() else storage.parent

    def tree(root: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root).as_posix()
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        return out

    def names(directory: Path) -> list[str]:
        # Server lock files (next to the database, and under the data directory "home") are not data.
        skip = (".servers.lock", ".servers.d")
        return sorted(p.name for p in directory.iterdir() if p.name != "home" and not p.name.endswith(skip))

    return {
        "db": _database_fingerprint(),
        "db_dir": names(beside),
        "storage": tree(storage),
        "storage_parent": names(storage.parent),
    }


def _save(label: str | None = None, *extra: str) -> Path:
    args = ["archive", "save", *(["--label", label] if label else []), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    match = re.search(r"Saved restore point.* to (\S+\.zip)", result.stdout)
    assert match, result.stdout
    return Path(match.group(1))


def _restore(path: Path | str, *extra: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["archive", "restore", str(path), *extra], input=input)


def _rewrite(
    source: Path,
    target: Path,
    *,
    drop: set[str] = frozenset(),
    add: dict[str, bytes] | None = None,
    add_infos: list[tuple[zipfile.ZipInfo, bytes]] | None = None,
    rehash: bool = True,
) -> Path:
    """Copy a restore point, adding/dropping members and (optionally) keeping metadata hashes consistent."""
    add = add or {}
    add_infos = add_infos or []
    with zipfile.ZipFile(source) as src:
        metadata = json.loads(src.read("metadata.json"))
        members = [(i, src.read(i)) for i in src.infolist() if i.filename not in drop and i.filename != "metadata.json"]
    for name in drop:
        metadata["files"].pop(name, None)
    extra = [(zipfile.ZipInfo(n), d) for n, d in add.items()] + add_infos
    if rehash:
        for info, data in extra:
            metadata["files"][info.filename] = hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(target, "w") as out:
        for info, data in members + extra:
            out.writestr(info, data)
        out.writestr("metadata.json", json.dumps(metadata))
    return target


@pytest.fixture
async def mailbox(states: Path) -> dict[str, Any]:
    writer, reader = await _make_agents(None, "First plan", "Second thoughts")
    return {"writer": writer, "reader": reader}


# ---------------------------------------------------------------------------- save


async def test_save_writes_verified_snapshot_with_hashes(mailbox, states: Path):
    path = _save("Nightly Run")
    assert path.parent == states
    assert re.fullmatch(r"mailbox-state-\d{8}-\d{6}Z-nightly-run\.zip", path.name)
    with zipfile.ZipFile(path) as zf:
        metadata = json.loads(zf.read("metadata.json"))
        assert metadata["format_version"] == 1
        assert metadata["label"] == "Nightly Run"
        assert metadata["created_at"].endswith("+00:00")
        assert metadata["counts"] == {
            "projects": 1,
            "agents": 2,
            "messages": 2,
            "recipients": 2,
            "file_reservations": 0,
        }
        assert metadata["projects"] == [{"slug": "work-restore-points", "human_key": PROJECT}]
        assert metadata["tool"]["version"]
        assert metadata["database"]["source_path"] == database_label(get_settings())
        for name, digest in metadata["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        assert set(metadata["files"]) == {n for n in zf.namelist() if not n.endswith("/")} - {"metadata.json"}
        snapshot = states / "snap.sqlite3"
        snapshot.write_bytes(zf.read("snapshot/mailbox.sqlite3"))
    with sqlite3.connect(snapshot) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r[0] for r in conn.execute("SELECT subject FROM messages ORDER BY id")] == _subjects()


async def test_save_leaves_the_database_unaltered(mailbox, states: Path):
    reset_database_state()  # close pooled connections so the file is at rest
    before = _database_fingerprint()
    _save()
    assert _database_fingerprint() == before


async def test_save_never_overwrites_an_existing_restore_point(mailbox, states: Path):
    now = datetime.now(UTC)
    placeholders = []
    for offset in range(0, 6):
        stamp = (now + timedelta(seconds=offset)).strftime("%Y%m%d-%H%M%S")
        placeholder = states / f"mailbox-state-{stamp}Z-same.zip"
        placeholder.write_bytes(b"placeholder")
        placeholders.append(placeholder)
    first = _save("same")
    second = _save("same")
    assert first != second
    assert re.search(r"-same-\d\d\.zip$", first.name) and re.search(r"-same-\d\d\.zip$", second.name)
    assert all(p.read_bytes() == b"placeholder" for p in placeholders)
    assert not list(states.glob(".save-*")) and not list(states.glob("*.partial"))


async def test_save_with_unknown_project_is_refused(mailbox, states: Path):
    result = runner.invoke(app, ["archive", "save", "--project", "/no/such/project"])
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output
    assert list(states.iterdir()) == []


async def test_save_with_project_filter_records_the_filter(mailbox, states: Path):
    path = _save("scoped", "-p", "work-restore-points")
    with zipfile.ZipFile(path) as zf:
        metadata = json.loads(zf.read("metadata.json"))
    assert metadata["projects_filter"] == ["work-restore-points"]
    assert metadata["counts"]["messages"] == 2


@pytest.mark.bare_database
def test_save_without_database_is_a_coded_error(states: Path):
    result = runner.invoke(app, ["archive", "save"])
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output


# ---------------------------------------------------------------------------- list


def test_list_empty_directory(states: Path):
    result = runner.invoke(app, ["archive", "list"])
    assert result.exit_code == 0
    assert "No restore points" in result.stdout
    result = runner.invoke(app, ["archive", "list", "--json"])
    assert json.loads(result.stdout) == []


async def test_list_is_newest_first_and_reports_broken_files(mailbox, states: Path):
    older = _save("older")
    await _send(mailbox["writer"], mailbox["reader"], "Third")
    newer = _save("newer")
    os.utime(older, (2_000_000_000, 2_000_000_000))  # a later mtime must not beat created_at
    (states / "broken.zip").write_bytes(b"not a zip")
    entries = json.loads(runner.invoke(app, ["archive", "list", "--json"]).stdout)
    readable = [e for e in entries if "error" not in e]
    assert [e["file"] for e in readable] == [newer.name, older.name]
    assert readable[0]["label"] == "newer" and readable[0]["counts"]["messages"] == 3
    assert readable[0]["size_bytes"] == newer.stat().st_size
    broken = next(e for e in entries if e["file"] == "broken.zip")
    assert broken["error"]
    table = runner.invoke(app, ["archive", "list"])
    assert table.exit_code == 0
    assert newer.name in table.stdout and "older" in table.stdout


# ---------------------------------------------------------------------------- restore: refusals


async def test_dry_run_changes_nothing(mailbox, states: Path):
    path = _save("dry")
    await _send(mailbox["writer"], mailbox["reader"], "After save")
    before = _fingerprint()
    result = _restore(path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry-run plan" in result.stdout and "nothing was changed" in result.stdout
    assert _fingerprint() == before


async def test_declining_the_prompt_changes_nothing(mailbox, states: Path):
    path = _save()
    before = _fingerprint()
    result = _restore(path, input="n\n")
    assert result.exit_code == 1
    assert "Proceed with restore?" in result.stdout
    assert _fingerprint() == before


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


_BAD_CASES = [
    "tampered",
    "truncated",
    "traversal",
    "absolute",
    "symlink",
    "backslash",
    "duplicate",
    "unlisted",
    "no-snapshot",
    "not-sqlite",
]


def _make_bad(good: Path, bad: Path, case: str) -> None:
    if case == "tampered":
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as out:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "snapshot/mailbox.sqlite3":
                    data = data[:-10] + b"X" * 10
                out.writestr(info, data)
    elif case == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "traversal":
        _rewrite(good, bad, add={"storage_repo/../../evil": b"pwned"})
    elif case == "absolute":
        _rewrite(good, bad, add={"/tmp/evil": b"pwned"})
    elif case == "symlink":
        _rewrite(good, bad, add_infos=[(_symlink_info("storage_repo/link"), b"/etc/passwd")])
    elif case == "backslash":
        _rewrite(good, bad, add={"storage_repo\\..\\evil": b"pwned"})
    elif case == "duplicate":
        with pytest.warns(UserWarning):
            _rewrite(good, bad, add={"snapshot/mailbox.sqlite3": b"other"})
    elif case == "unlisted":
        _rewrite(good, bad, add={"storage_repo/extra.txt": b"extra"}, rehash=False)
    elif case == "no-snapshot":
        _rewrite(good, bad, drop={"snapshot/mailbox.sqlite3"})
    elif case == "not-sqlite":  # consistent hashes, but the snapshot is garbage
        _rewrite(good, bad, drop={"snapshot/mailbox.sqlite3"}, add={"snapshot/mailbox.sqlite3": b"garbage" * 100})


async def test_unsafe_or_damaged_archives_are_refused(mailbox, states: Path):
    good = _save("good")
    bad_dir = states.parent / "bad"
    bad_dir.mkdir()
    before = _fingerprint()
    for case in _BAD_CASES:
        bad = bad_dir / f"{case}.zip"
        _make_bad(good, bad, case)
        result = _restore(bad, "--force")
        assert result.exit_code == 1, (case, result.output)
        assert "ARCHIVE_INVALID" in result.output, (case, result.output)
        assert _fingerprint() == before, case
    assert not (states.parent / "evil").exists() and not Path("/tmp/evil").exists()


async def test_restore_refuses_while_a_server_holds_the_mailbox(mailbox, states: Path):
    path = _save()
    before = _fingerprint()
    with hold_server_registration(get_settings(), "http"):
        result = _restore(path, "--force")
    assert result.exit_code == 1
    assert "SERVER_RUNNING" in result.output
    assert f"pid {os.getpid()} (http)" in result.output
    assert _fingerprint() == before


async def test_restore_refuses_while_an_mcp_client_session_is_open(mailbox, states: Path):
    path = _save()
    async with Client(build_mcp_server()) as c:
        await c.call_tool("health_check", {})
        result = _restore(path, "--force")
        assert result.exit_code == 1 and "SERVER_RUNNING" in result.output
    result = _restore(path, "--force")
    assert result.exit_code == 0, result.output


async def test_ignore_running_restores_anyway(mailbox, states: Path):
    path = _save()
    await _send(mailbox["writer"], mailbox["reader"], "Lost by restore")
    with hold_server_registration(get_settings(), "http"):
        result = _restore(path, "--force", "--ignore-running")
    assert result.exit_code == 0, result.output
    assert "Lost by restore" not in _subjects()


def test_restore_of_missing_file_is_not_found(states: Path):
    result = _restore("nope.zip", "--force")
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output


# ---------------------------------------------------------------------------- restore: success and rollback


@pytest.mark.sqlite_only  # the database file itself is moved aside
async def test_restore_by_name_keeps_backups_and_confirms(mailbox, states: Path):
    path = _save("by-name")
    await _send(mailbox["writer"], mailbox["reader"], "Newer than the restore point")
    result = _restore(path.name, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Restored" in result.stdout and "To undo" in result.stdout
    assert "Newer than the restore point" not in _subjects()
    backups = sorted(_db_path().parent.glob(f"{_db_path().name}.backup-*"))
    assert backups, result.stdout
    main_backup = next(b for b in backups if not b.name.endswith(("-wal", "-shm")))
    assert str(main_backup) in result.stdout
    with sqlite3.connect(f"file:{main_backup}?mode=ro", uri=True) as conn:
        subjects = [r[0] for r in conn.execute("SELECT subject FROM messages")]
    assert "Newer than the restore point" in subjects  # the moved-aside database still holds the newer mail
    assert not list(_db_path().parent.glob(".restore-*"))


async def test_two_restore_points_restore_in_either_order(mailbox, states: Path):
    one = _save("one")
    await _send(mailbox["writer"], mailbox["reader"], "Only in two")
    two = _save("two")
    assert _restore(one, "--force").exit_code == 0
    assert _subjects() == ["First plan", "Second thoughts"]
    assert _restore(two, "--force").exit_code == 0
    assert _subjects() == ["First plan", "Second thoughts", "Only in two"]
    assert _restore(one, "--force").exit_code == 0
    assert _subjects() == ["First plan", "Second thoughts"]


async def test_everything_works_after_restore(mailbox, states: Path):
    path = _save()
    max_id = max(row[0] for row in table_rows("messages", "id"))
    await _send(mailbox["writer"], mailbox["reader"], "Discarded by restore")
    assert _restore(path, "--force").exit_code == 0
    writer, reader = mailbox["writer"], mailbox["reader"]
    async with Client(build_mcp_server()) as c:
        sent = await c.call_tool(
            "send_message",
            {
                "project_key": PROJECT,
                "sender_name": writer,
                "to": [reader],
                "subject": "After restore",
                "body_md": "fresh words",
            },
        )
        new_id = sent.data["deliveries"][0]["payload"]["id"]
        assert new_id > max_id
        reply = await c.call_tool(
            "reply_message",
            {"project_key": PROJECT, "message_id": new_id, "sender_name": reader, "body_md": "got it"},
        )
        assert reply.data["deliveries"][0]["payload"]["id"] > new_id
        found = await c.call_tool("search_messages", {"project_key": PROJECT, "query": "fresh"})
        assert [m["id"] for m in found.data] == [new_id]
        inbox = await c.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": reader})
        assert {m["subject"] for m in inbox.data} >= {"After restore", "First plan"}


async def test_failed_swap_rolls_back_to_exactly_what_was_there(
    states: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A storage root whose name leaves no room for the ".backup-<stamp>" suffix: moving it aside
    # fails after the database was already swapped, so the restore must undo that swap.
    storage = tmp_path / ("s" * 240)
    monkeypatch.setenv("STORAGE_ROOT", str(storage))
    clear_settings_cache()
    reset_database_state()
    writer, reader = await _make_agents(None, "Before save")
    storage.mkdir(exist_ok=True)
    (storage / "note.txt").write_text("current storage")
    path = _save()
    await _send(writer, reader, "After save")
    archive.flush_pending()  # a restore into a database that is not a file saves the mailbox first, which flushes
    reset_database_state()
    before = _fingerprint()
    result = _restore(path, "--force")
    assert result.exit_code == 1, result.output
    assert "back in place" in result.output
    assert _fingerprint() == before
    assert "After save" in _subjects()
    assert not list(tmp_path.glob("*.backup-*")) and not list(tmp_path.glob(".restore-*"))
    shutil.rmtree(storage, ignore_errors=True)


@pytest.mark.skipif(on_sqlite(), reason="the previous mailbox of a database that is not a file")
async def test_restore_in_place_saves_the_previous_mailbox_as_a_restore_point(mailbox, states: Path):
    path = _save("by-name")
    await _send(mailbox["writer"], mailbox["reader"], "Newer than the restore point")
    result = _restore(path.name, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Restored" in result.stdout and "To undo: mcp-agent-mail archive restore" in result.stdout
    assert "Newer than the restore point" not in _subjects()
    [previous] = [p for p in states.glob("*pre-restore.zip")]
    assert str(previous) in result.stdout
    assert _restore(previous, "--force").exit_code == 0
    assert "Newer than the restore point" in _subjects()  # the previous mailbox came back whole
    assert not list(states.parent.glob(".restore-*"))


# ---------------------------------------------------------------------------- moving between backends


def _use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    clear_settings_cache()
    reset_database_state()


def _per_table() -> dict[str, int]:
    return {table.name: count(table.name) for table in schema.metadata.sorted_tables if table.name != "schema_version"}


async def _fill_for_a_move() -> dict[str, Any]:
    writer, reader = await _make_agents(None, "First plan", "Second thoughts", "Third rail")
    async with Client(build_mcp_server()) as c:
        await c.call_tool("file_reservation_paths", {"project_key": PROJECT, "agent_name": writer, "paths": ["src/**"]})
        await c.call_tool("request_contact", {"project_key": PROJECT, "from_agent": writer, "to_agent": reader})
    return {"writer": writer, "reader": reader, "counts": _per_table(), "rows": digest(skip=("schema_version",))}


async def _works_after_the_move(before: dict[str, Any]) -> None:
    """The moved mailbox answers like the old one: mail, search, new ids above the old ones."""
    assert _per_table() == before["counts"]
    assert digest(skip=("schema_version",)) == before["rows"]
    top = max(row[0] for row in table_rows("messages", "id"))
    new_id = await _send(before["writer"], before["reader"], "Moved words")
    assert new_id > top
    async with Client(build_mcp_server()) as c:
        found = await c.call_tool("search_messages", {"project_key": PROJECT, "query": "moved"})
    assert [m["id"] for m in found.data] == [new_id]


async def test_moving_a_mailbox_from_sqlite_to_postgresql(
    states: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_database_url: str | None
):
    if pg_database_url is None:
        pytest.skip("needs MCP_AGENT_MAIL_TEST_BACKEND=postgresql")
    _use_database(monkeypatch, f"sqlite+aiosqlite:///{tmp_path / 'old-mailbox.sqlite3'}")
    before = await _fill_for_a_move()
    path = _save("move")
    _use_database(monkeypatch, pg_database_url)
    result = _restore(path, "--force")
    assert result.exit_code == 0, result.output
    assert "replace every mailbox table of postgresql" in result.output
    await _works_after_the_move(before)


async def test_moving_a_mailbox_from_postgresql_to_sqlite(
    states: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_database_url: str | None
):
    if pg_database_url is None:
        pytest.skip("needs MCP_AGENT_MAIL_TEST_BACKEND=postgresql")
    before = await _fill_for_a_move()
    path = _save("move")
    target = tmp_path / "new-mailbox.sqlite3"
    _use_database(monkeypatch, f"sqlite+aiosqlite:///{target}")
    result = _restore(path, "--force")
    assert result.exit_code == 0, result.output
    assert f"restore database snapshot -> {target}" in result.output
    await _works_after_the_move(before)
