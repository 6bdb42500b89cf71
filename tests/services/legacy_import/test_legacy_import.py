"""Importing a mailbox of the original: everything carried across, nothing changed at the source, all or nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from import_kit import archive_files, counts, doctor_problems, legacy, rows, run_import

from legacy_fixture import BACKEND, BACKEND_SLUG, tree_digest
from mcp_agent_mail.db import schema
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 11, day, hour, tzinfo=UTC)


def test_import_keeps_ids_times_deliveries_and_policies(isolated_env):
    mailbox = legacy(isolated_env)
    report = run_import(mailbox)

    assert dict(report.imported) == mailbox.expected
    assert report.skipped_total == 0
    projects = rows(schema.projects, schema.projects.c.id)
    assert (projects[0]["id"], projects[0]["slug"], projects[0]["human_key"]) == (1, BACKEND_SLUG, BACKEND)
    assert projects[0]["created_at"] == _at(1)  # naive UTC became aware UTC
    agents = {a["name"]: a for a in rows(schema.agents, schema.agents.c.id)}
    assert list(agents) == ["BlueLake", "RedFox", "GreenCastle", "PurpleBear"]
    assert agents["RedFox"]["contact_policy"] == "contacts_only"
    assert agents["GreenCastle"]["attachments_policy"] == "file"
    assert all(a["registration_token_hash"] is None for a in agents.values())
    assert report.agents_to_register == {
        BACKEND_SLUG: ["BlueLake", "RedFox", "GreenCastle"],
        "work-legacy-frontend": ["PurpleBear"],
    }
    messages = {m["id"]: m for m in rows(schema.messages, schema.messages.c.id)}
    assert sorted(messages) == [1, 2, 3, 4, 5]
    assert messages[1]["thread_id"] is None and messages[2]["thread_id"] == "1"
    assert messages[1]["importance"] == "high" and messages[1]["ack_required"] is True
    assert messages[4]["subject"] == "Missing file"  # its archive file never existed; the row is what counts
    assert messages[5]["project_id"] == 2 and messages[5]["sender_id"] == 1  # cross-project: stored with the recipient
    recipients = {
        (r["message_id"], r["agent_id"]): r for r in rows(schema.message_recipients, "message_id", "agent_id")
    }
    assert recipients[(1, 2)]["read_ts"] == _at(2, 10) and recipients[(1, 2)]["ack_ts"] == _at(2, 11)
    assert recipients[(2, 3)]["kind"] == "bcc" and recipients[(1, 3)]["kind"] == "cc"
    reservations = rows(schema.file_reservations, schema.file_reservations.c.id)
    assert [(r["path_pattern"], r["exclusive"], r["released_ts"]) for r in reservations] == [
        ("src/api/*.py", True, None),
        ("docs/**", False, _at(3, 15)),
    ]
    links = rows(schema.agent_links, schema.agent_links.c.id)
    assert [(k["a_agent_id"], k["b_agent_id"], k["b_project_id"], k["status"]) for k in links] == [
        (1, 4, 2, "approved"),
        (2, 1, 1, "approved"),
    ]
    window = rows(schema.window_identities)[0]
    assert window["window_uuid"] == "6f9619ff-8b86-d011-b42d-00c04fc964ff" and window["display_name"] == "BlueLake"
    summary = rows(schema.message_summaries)[0]
    assert json.loads(summary["summary_json"]) == {"key_points": ["plan"]}
    assert summary["source_thread_ids"] == ["1", "FEAT-7"] and summary["viewer_agent_id"] is None
    assert report.not_carried == {"products": 1, "product_project_links": 1, "project_sibling_suggestions": 1}
    assert doctor_problems() == []


def test_archive_holds_the_mail_in_our_layout(isolated_env):
    mailbox = legacy(isolated_env)
    run_import(mailbox)

    files = archive_files(isolated_env["storage"])
    base = f"projects/{BACKEND_SLUG}"
    canonical = next(v for k, v in files.items() if k.startswith(f"{base}/messages/2025/11/") and k.endswith("__2.md"))
    assert b'"bcc"' not in canonical  # the original listed Bcc in every copy
    bcc_copy = next(v for k, v in files.items() if k.startswith(f"{base}/agents/GreenCastle/inbox/") and "__2" in k)
    assert b'"GreenCastle"' in bcc_copy and b'"kind": "bcc"' in bcc_copy
    assert any(k.endswith("__4.md") for k in files)  # the message the original's archive had lost
    assert f"{base}/messages/threads/FEAT-7.md" in files
    stored = [data for k, data in files.items() if k.startswith(f"{base}/attachments/")]
    assert stored == [mailbox.attachment]
    diagram = next(v for k, v in files.items() if k.startswith(f"{base}/messages/") and k.endswith("__3.md"))
    assert b"![diagram](/projects/work-legacy-backend/attachments/" in diagram
    assert b"legacy_storage" not in diagram and b".webp)" in diagram


def test_the_original_is_never_changed(isolated_env):
    mailbox = legacy(isolated_env, hostile=True)
    source_dir = mailbox.database.parent
    before = tree_digest(source_dir)

    run_import(mailbox, dry_run=True)
    run_import(mailbox)

    assert tree_digest(source_dir) == before  # same bytes, and no new file (-wal, -shm) beside the database


def test_dry_run_reports_and_changes_nothing(isolated_env):
    mailbox = legacy(isolated_env)
    ensure_project_sync("/work/already-here")
    before, files = counts(), archive_files(isolated_env["storage"])

    report = run_import(mailbox, dry_run=True, merge=True)

    assert report.dry_run and dict(report.imported) == mailbox.expected
    assert report.archive_rows > 0
    assert counts() == before and archive_files(isolated_env["storage"]) == files


@pytest.mark.sqlite_only
def test_dry_run_does_not_create_the_database(isolated_env):
    mailbox = legacy(isolated_env)
    report = run_import(mailbox, dry_run=True)
    assert dict(report.imported) == mailbox.expected
    assert not isolated_env["db_path"].exists() and not isolated_env["storage"].exists()


def test_refuses_a_mailbox_that_holds_mail_and_changes_nothing(isolated_env):
    mailbox = legacy(isolated_env)
    run_import(mailbox)
    before, files = counts(), archive_files(isolated_env["storage"])

    with pytest.raises(InvalidArgumentError, match="already holds mail") as info:
        run_import(mailbox)

    assert "--merge" in (info.value.hint or "")
    assert counts() == before and archive_files(isolated_env["storage"]) == files


def ensure_project_sync(human_key: str) -> None:
    """Create a project of this mailbox (so it is no longer empty)."""
    import asyncio

    asyncio.run(ensure_project(human_key))


async def test_merge_renumbers_taken_ids_and_joins_same_project_and_agent(isolated_env):
    await ensure_project(BACKEND)
    await register_agent(BACKEND, program="p", model="m", name="BlueLake")
    await register_agent(BACKEND, program="p", model="m", name="OrangeFox")
    await send_message(BACKEND, "BlueLake", ["OrangeFox"], "Ours", "our own first message")
    mailbox = legacy(isolated_env)

    import asyncio

    report = await asyncio.to_thread(run_import, mailbox, merge=True)

    assert report.merged["projects"] == 1 and report.merged["agents"] == 1
    assert report.renumbered["messages"] == 1
    projects = rows(schema.projects, schema.projects.c.id)
    assert [p["human_key"] for p in projects] == [BACKEND, "/work/legacy-frontend"]
    agents = rows(schema.agents, schema.agents.c.id)
    assert [a["name"] for a in agents][:2] == ["BlueLake", "OrangeFox"] and len(agents) == 5
    messages = {m["subject"]: m for m in rows(schema.messages, schema.messages.c.id)}
    assert messages["Ours"]["id"] == 1
    seed = messages["Schema plan"]
    assert seed["id"] == 6  # 1 was taken: next above both mailboxes' highest id
    assert messages["Re: Schema plan"]["thread_id"] == "6"  # the reply follows its renumbered seed
    assert messages["Diagram"]["id"] == 3
    assert doctor_problems() == []


def test_hostile_rows_are_counted_and_skipped_and_the_rest_imported(isolated_env):
    mailbox = legacy(isolated_env, hostile=True)
    report = run_import(mailbox)

    skipped = {(kind, reason.split(" (")[0]): n for (kind, reason), n in report.skipped.items()}
    assert skipped[("messages", "its sender was not imported")] == 2
    assert skipped[("messages", "created_ts 'soon' is not a timestamp")] == 1
    assert skipped[("agents", "name is not a valid agent name")] == 1
    assert skipped[("agents", "inception_ts 'not a time' is not a timestamp")] == 1
    assert skipped[("projects", "human_key is not usable")] == 1
    assert skipped[("recipients", "its message was not imported")] == 4
    assert skipped[("recipients", "kind is not to, cc or bcc")] == 1
    assert skipped[("contacts", "an agent of the pair was not imported")] == 1
    assert skipped[("file_reservations", "path_pattern is not usable")] == 1
    refused = [n for (kind, reason), n in report.skipped.items() if kind == "attachments" and "refused" in reason]
    assert sum(refused) == 2
    assert report.imported["messages"] == 6 and report.imported["agents"] == 4
    escape = next(m for m in rows(schema.messages) if m["subject"] == "Escape")
    assert [a["type"] for a in escape["attachments"]] == ["missing", "missing"]
    assert all(b"root:" not in data for data in archive_files(isolated_env["storage"]).values())
    assert doctor_problems() == []


def test_a_source_that_is_not_the_original_is_refused(isolated_env):
    tmp = isolated_env["tmp_path"]
    (tmp / "store").mkdir()
    (tmp / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(NotFoundError):
        run_import(type("M", (), {"database": tmp / "missing.sqlite3", "storage": tmp / "store"})())
    with pytest.raises(InvalidArgumentError, match="cannot be"):
        run_import(type("M", (), {"database": tmp / "junk.sqlite3", "storage": tmp / "store"})())
    own = legacy(isolated_env)
    with pytest.raises(InvalidArgumentError, match="overlap"):
        run_import(type("M", (), {"database": own.database, "storage": isolated_env["storage"]})())


@pytest.mark.parametrize("limit", ["10"])
def test_attachments_over_the_size_limit_are_refused(isolated_env, monkeypatch, limit):
    from mcp_agent_mail.config import clear_settings_cache

    monkeypatch.setenv("ATTACHMENT_MAX_BYTES", limit)
    clear_settings_cache()
    mailbox = legacy(isolated_env)
    report = run_import(mailbox)
    reasons = [reason for (kind, reason) in report.skipped if kind == "attachments"]
    assert reasons == ["refused: the file is larger than ATTACHMENT_MAX_BYTES (10 bytes)"]
    diagram = next(m for m in rows(schema.messages) if m["subject"] == "Diagram")
    assert diagram["attachments"][0]["type"] == "missing"
    assert doctor_problems() == []
