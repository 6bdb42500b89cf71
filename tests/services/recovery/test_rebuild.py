"""``doctor rebuild-db --from-archive``: the database's core comes back from the Git archive alone, exactly."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from db_kit import count, normalised, on_sqlite
from db_kit import rows as table_rows
from gitrepo import init_repo
from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive.on_disk import worktree_paths
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import reset_database_state, schema, sync_read_connection, sync_write_connection
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.db.snapshot import dialect_of, has_mailbox
from mcp_agent_mail.services.recovery.server_registry import hold_server_registration

MAIN = "/work/rebuild-main"
SIDE = "/work/rebuild-side"
runner = CliRunner()

AGENT_COLUMNS = (
    "id",
    "project_id",
    "name",
    "name_key",
    "program",
    "model",
    "task_description",
    "inception_ts",
    "last_active_ts",
    "attachments_policy",
    "contact_policy",
    "retired_at",
)
# table -> (columns, default all; order)
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "projects": ((), "id"),
    "agents": (AGENT_COLUMNS, "id"),
    "messages": ((), "id"),
    "message_recipients": ((), "message_id, agent_id"),
    "file_reservations": ((), "id"),
}


def rows(url: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the core tables of the configured database (or of ``url``), typed by the schema."""
    return {table: table_rows(table, *columns, order_by=order, url=url) for table, (columns, order) in TABLES.items()}


def counters() -> dict[str, int]:
    """The last id each table's counter handed out."""
    with sync_read_connection() as conn:
        return dialect_of(conn).counters(conn)


async def populate() -> dict[str, Any]:
    """Create two projects of mail through the MCP tools and wait until the archive shows all of it."""
    async with Client(build_mcp_server()) as c:

        async def call(tool: str, **args: Any) -> Any:
            return (await c.call_tool(tool, args)).data

        await call("ensure_project", human_key=MAIN)
        await call("ensure_project", human_key=SIDE)
        names = []
        for task in ("lead", "reviewer", "observer", "auditor"):
            agent = await call(
                "create_agent_identity", project_key=MAIN, program="pytest", model="m1", task_description=f"the {task}"
            )
            names.append(agent["name"])
        lead, reviewer, observer, auditor = names
        side = [
            (await call("create_agent_identity", project_key=SIDE, program="codex", model="m2"))["name"]
            for _ in range(2)
        ]
        first = await call(
            "send_message",
            project_key=MAIN,
            sender_name=lead,
            to=[reviewer],
            cc=[observer],
            bcc=[auditor],
            subject="Schema plan: ünïcode & symbols!",
            body_md="Line one\n\n  indented `code`\n\ntrailing\n\n",
            importance="high",
            ack_required=True,
            topic="db-work",
        )
        first_id = first["deliveries"][0]["payload"]["id"]
        await call(
            "send_message",
            project_key=MAIN,
            sender_name=observer,
            to=[lead, reviewer],
            subject="Ticket",
            body_md="see POL-358",
            thread_id="POL-358",
        )
        await call(
            "reply_message",
            project_key=MAIN,
            message_id=first_id,
            sender_name=reviewer,
            body_md="Looks **good**",
            cc=[observer],
        )
        await call("mark_message_read", project_key=MAIN, agent_name=observer, message_id=first_id)
        await call("acknowledge_message", project_key=MAIN, agent_name=reviewer, message_id=first_id)
        await call("mark_message_read", project_key=MAIN, agent_name=auditor, message_id=first_id)
        await call("send_message", project_key=SIDE, sender_name=side[0], to=[side[1]], subject="Side note", body_md="")
        await call("file_reservation_paths", project_key=MAIN, agent_name=lead, paths=["src/**"], reason="refactor")
        await call(
            "file_reservation_paths",
            project_key=MAIN,
            agent_name=reviewer,
            paths=["docs/*.md"],
            exclusive=False,
            ttl_seconds=600,
        )
        await call("release_file_reservations", project_key=MAIN, agent_name=lead, paths=["src/**"])
    archive.flush_pending()
    assert archive.pending_count() == 0
    return {"names": names, "side": side, "first_id": first_id}


def head(storage: Path) -> bytes:
    repo = Repo(str(storage))
    try:
        return repo.head()
    finally:
        repo.close()


def delete_database(db_path: Path) -> None:
    """Lose the database: its file on SQLite, every table elsewhere."""
    reset_database_state()
    archive.clear_repo_cache()
    if on_sqlite():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(parse_database_url(get_settings().database.url).sync_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    reset_database_state()


async def test_rebuild_from_archive_alone_is_exact(isolated_env):
    db_path, storage = isolated_env["db_path"], isolated_env["storage"]
    data = await populate()
    before = rows()
    assert len(before["messages"]) == 4 and len(before["file_reservations"]) == 2
    assert {r[2] for r in before["message_recipients"]} == {"to", "cc", "bcc"}
    commit_before = head(storage)
    delete_database(db_path)

    result = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert result.exit_code == 0, result.output
    assert "Recovered: 2 projects, 6 agents, 4 messages, 8 recipients, 2 file reservations." in result.output
    assert "byte for byte" in result.output
    assert "re-register" in result.output

    after = rows()
    assert after == before
    assert count("agents", "registration_token_hash IS NOT NULL") == 0
    assert count("archive_outbox") == 0
    assert counters()["messages"] >= max(r[0] for r in before["messages"])

    # Re-rendering the rebuilt database gives the archive's bytes: no new commit, nothing to write.
    with sync_read_connection() as conn:
        expected = archive.render_archive_files(conn)
    on_disk = {p: (storage / p).read_bytes() for p in worktree_paths(storage)}
    assert expected == on_disk
    assert archive.flush_pending() == 0 and head(storage) == commit_before

    lead, reviewer = data["names"][:2]
    async with Client(build_mcp_server()) as c:
        sent = (
            await c.call_tool(
                "send_message",
                {
                    "project_key": MAIN,
                    "sender_name": lead,
                    "to": [reviewer],
                    "subject": "After",
                    "body_md": "new",
                },
            )
        ).data
        found = (await c.call_tool("search_messages", {"project_key": MAIN, "query": "POL-358"})).data
        inbox = (await c.call_tool("fetch_inbox", {"project_key": MAIN, "agent_name": reviewer})).data
        again = (
            await c.call_tool("register_agent", {"project_key": MAIN, "program": "pytest", "model": "m1", "name": lead})
        ).data
    assert sent["deliveries"][0]["payload"]["id"] > max(r[0] for r in before["messages"])
    found = found["result"] if isinstance(found, dict) else found
    assert [m["subject"] for m in found] == ["Ticket"]
    inbox = inbox["result"] if isinstance(inbox, dict) else inbox
    assert data["first_id"] in [m["id"] for m in inbox]
    assert again["name"] == lead
    archive.flush_pending()


async def test_rebuild_refuses_existing_data_unless_forced(isolated_env):
    await populate()
    before = rows()
    reset_database_state()

    refused = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert refused.exit_code == 1
    assert "INVALID_ARGUMENT" in refused.output and "already holds data" in refused.output
    assert "--force" in refused.output
    assert rows() == before

    forced = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive", "--force"])
    assert forced.exit_code == 0, forced.output
    kept = re.search(r"Previous database kept as (\S+)", forced.output)
    assert kept, forced.output
    assert rows(f"sqlite+aiosqlite:///{kept.group(1)}") == before  # a SQLite file either way
    assert rows() == before


async def test_rebuild_refuses_while_a_server_runs(isolated_env):
    db_path = isolated_env["db_path"]
    await populate()
    delete_database(db_path)
    with hold_server_registration(get_settings(), "http"):
        refused = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
        assert refused.exit_code == 1
        assert "SERVER_RUNNING" in refused.output
        assert not has_mailbox(get_settings())
        allowed = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive", "--ignore-running"])
        assert allowed.exit_code == 0, allowed.output
    assert rows()["messages"]


@pytest.mark.sqlite_only  # writes garbage into the database file
async def test_rebuild_replaces_a_corrupt_database_only_with_force(isolated_env):
    db_path = isolated_env["db_path"]
    await populate()
    delete_database(db_path)
    db_path.write_bytes(b"this is not a database" * 100)
    refused = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert refused.exit_code == 1 and "cannot be read" in refused.output
    forced = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive", "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(rows()["messages"]) == 4


def test_rebuild_needs_an_archive_and_the_flag(isolated_env):
    missing = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.output
    no_flag = runner.invoke(app, ["doctor", "rebuild-db"])
    assert no_flag.exit_code == 1 and "--from-archive" in no_flag.output


async def test_rebuild_reads_committed_files_missing_from_the_work_tree(isolated_env):
    db_path, storage = isolated_env["db_path"], isolated_env["storage"]
    await populate()
    before = rows()
    delete_database(db_path)
    for path in worktree_paths(storage):
        if "/inbox/" in path:
            (storage / path).unlink()
    result = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert result.exit_code == 0, result.output
    assert "read from the last commit" in result.output
    assert rows() == before


async def test_ids_of_messages_removed_before_the_loss_are_not_reused(isolated_env):
    db_path = isolated_env["db_path"]
    await populate()
    with sync_write_connection() as conn:
        last = conn.execute(text("SELECT max(id) FROM messages")).scalar_one()
        conn.execute(text("DELETE FROM messages WHERE id = :id"), {"id": last})
        conn.execute(
            schema.archive_outbox.insert().values(
                project_id=1, kind="message", ref=str(last), created_ts=datetime(2026, 1, 1, tzinfo=UTC)
            )
        )
    assert archive.flush_pending() == 1
    delete_database(db_path)
    result = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert result.exit_code == 0, result.output
    assert max(row[0] for row in table_rows("messages", "id")) < last
    assert counters()["messages"] >= last


def all_rows() -> dict[str, list[tuple[Any, ...]]]:
    """The core tables plus contact links and attachment blobs."""
    extra = {
        "agent_links": table_rows("agent_links"),
        "attachment_blobs": [
            tuple(normalised(v) for v in row) for row in table_rows("attachment_blobs", order_by="sha256")
        ],
    }
    return {**rows(), **extra}


async def populate_contacts_and_attachments(tmp_path: Path) -> dict[str, Any]:
    """Two real project folders; contacts in every state; cross-project mail with stored attachments."""
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    (alpha / "docs").mkdir(parents=True)
    beta.mkdir()
    for folder in (alpha, beta):  # files are attached only from Git work trees
        init_repo(folder, files={}, commit=False)
    (alpha / "notes.txt").write_text("release notes\n")
    (alpha / "docs" / "data.bin").write_bytes(bytes(range(256)) * 4)
    (beta / "report.csv").write_text("a,b\n1,2\n")
    async with Client(build_mcp_server()) as c:

        async def call(tool: str, **args: Any) -> Any:
            return (await c.call_tool(tool, args)).data

        a_slug = (await call("ensure_project", human_key=str(alpha)))["slug"]
        b_slug = (await call("ensure_project", human_key=str(beta)))["slug"]
        for project, name in ((alpha, "BlueLake"), (alpha, "GreenCastle"), (beta, "RedFox")):
            await call("register_agent", project_key=str(project), program="p", model="m", name=name)
        await call(
            "request_contact",
            project_key=str(alpha),
            from_agent="BlueLake",
            to_agent="RedFox",
            to_project=b_slug,
            reason="API questions",
        )
        await call(
            "respond_contact", project_key=str(beta), to_agent="RedFox", from_agent=f"BlueLake@{a_slug}", accept=True
        )
        await call(
            "request_contact",
            project_key=str(alpha),
            from_agent="GreenCastle",
            to_agent="RedFox",
            to_project=b_slug,
            reason="spam",
        )
        await call(
            "respond_contact",
            project_key=str(beta),
            to_agent="RedFox",
            from_agent=f"GreenCastle@{a_slug}",
            accept=False,
        )
        await call(
            "request_contact", project_key=str(beta), from_agent="RedFox", to_agent="GreenCastle", to_project=a_slug
        )
        sent = await call(
            "send_message",
            project_key=str(alpha),
            sender_name="BlueLake",
            to=[f"RedFox@{b_slug}"],
            cc=["GreenCastle"],
            subject="Cross-project plan",
            body_md="Details attached.",
            attachment_paths=["notes.txt", "docs/data.bin"],
            thread_id="PLAN-1",
        )
        first = sent["deliveries"][0]["payload"]["id"]
        await call(
            "send_message",
            project_key=str(alpha),
            sender_name="GreenCastle",
            to=["BlueLake"],
            subject="Same notes",
            body_md="Again.",
            attachment_paths=["notes.txt"],
            thread_id="PLAN-1",
        )
        await call("mark_message_read", project_key=str(beta), agent_name="RedFox", message_id=first)
        await call("acknowledge_message", project_key=str(beta), agent_name="RedFox", message_id=first)
        await call(
            "send_message",
            project_key=str(beta),
            sender_name="RedFox",
            to=[f"BlueLake@{a_slug}"],
            subject="Numbers",
            body_md="See csv.",
            attachment_paths=["report.csv"],
        )
    archive.flush_pending()
    assert archive.pending_count() == 0
    return {"alpha": alpha, "beta": beta, "a_slug": a_slug, "b_slug": b_slug, "first": first}


async def test_rebuild_restores_contacts_attachments_and_cross_project_mail(isolated_env):
    db_path, storage = isolated_env["db_path"], isolated_env["storage"]
    data = await populate_contacts_and_attachments(isolated_env["tmp_path"])
    before = all_rows()
    assert sorted(row[5] for row in before["agent_links"]) == ["approved", "blocked", "pending"]
    assert len(before["attachment_blobs"]) == 3
    cross = [row for row in before["messages"] if row[5] == "Cross-project plan"]
    assert len(cross) == 1 and cross[0][1] == 1  # stored once, in the sender's project
    recipient_projects = {r[1] for r in before["message_recipients"] if r[0] == cross[0][0]}
    assert len(recipient_projects) == 2
    contacts = json.loads((storage / f"projects/{data['a_slug']}/agents/BlueLake/contacts.json").read_text())
    assert [(e["to"], e["to_project"], e["status"], e["reason"]) for e in contacts["outgoing"]] == [
        ("RedFox", str(data["beta"]), "approved", "API questions")
    ]
    commit_before = head(storage)
    delete_database(db_path)

    result = runner.invoke(app, ["doctor", "rebuild-db", "--from-archive"])
    assert result.exit_code == 0, result.output
    assert "byte for byte" in result.output
    after = all_rows()
    for table in before:
        assert after[table] == before[table], table

    with sync_read_connection() as conn:
        expected = archive.render_archive_files(conn)
    on_disk = {p: (storage / p).read_bytes() for p in worktree_paths(storage)}
    assert any("/attachments/" in p for p in expected)
    assert expected == on_disk
    assert archive.flush_pending() == 0 and head(storage) == commit_before

    async with Client(build_mcp_server()) as c:
        listed = (
            await c.call_tool("list_contacts", {"project_key": str(data["alpha"]), "agent_name": "BlueLake"})
        ).structured_content
        again = (
            await c.call_tool(
                "send_message",
                {
                    "project_key": str(data["alpha"]),
                    "sender_name": "BlueLake",
                    "to": [f"RedFox@{data['b_slug']}"],
                    "subject": "Still allowed",
                    "body_md": "The approved link survived the rebuild.",
                },
            )
        ).data
    links = listed.get("result", listed)
    assert {(e["direction"], e["status"]) for e in links} == {("outgoing", "approved")}
    assert again["deliveries"][0]["payload"]["id"] > data["first"]
    archive.flush_pending()
