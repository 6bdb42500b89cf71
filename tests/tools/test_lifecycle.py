"""Lifecycle tools: retire, deregister, archive, hard deletes and purging, through an MCP client."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text, update

from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import get_session, run_write, schema
from mcp_agent_mail.services.doctor.checks import OK, run_checks
from mcp_agent_mail.services.identity.auth import BINDINGS
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/life-test"
OTHER = "/work/life-other"
SURE = "I UNDERSTAND"


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        for key in (PROJECT, OTHER):
            await c.call_tool("ensure_project", {"human_key": key})
        for name in ("BlueLake", "RedFox", "GreenCastle"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        await c.call_tool("register_agent", {"project_key": OTHER, "program": "p", "model": "m", "name": "GoldHawk"})
        yield c


async def send(client, sender="BlueLake", to="RedFox", **extra):
    args = {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": f"from {sender}", "body_md": "b"}
    return (await client.call_tool("send_message", {**args, **extra})).data


async def counts() -> dict[str, int]:
    tables = ("projects", "agents", "messages", "message_recipients", "file_reservations", "agent_links")
    async with get_session() as s:
        return {t: int((await s.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in tables}


async def refused(client, tool: str, args: dict, pattern: str) -> None:
    before = await counts()
    with pytest.raises(ToolError, match=pattern):
        await client.call_tool(tool, args)
    assert await counts() == before


def archive_files(storage: Path) -> list[str]:
    return sorted(str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file() and ".git" not in p.parts)


def git_clean(storage: Path) -> bool:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=storage, capture_output=True, text=True, check=True)
    return status.stdout == ""


def lifecycle_args(tool: str, **extra) -> dict:
    args = {"project_key": PROJECT, **extra}
    if tool not in ("archive_project", "unarchive_project", "hard_delete_project", "purge_old_messages"):
        args.setdefault("agent_name", "RedFox")
    return args


async def test_annotations_are_truthful(client):
    tools = {t.name: t.annotations for t in await client.list_tools()}
    for name in ("hard_delete_agent", "hard_delete_project", "purge_old_messages"):
        assert tools[name].destructive_hint is True and tools[name].read_only_hint is False
    for name in ("retire_agent", "unretire_agent", "deregister_agent", "archive_project", "unarchive_project"):
        assert tools[name].idempotent_hint is True and tools[name].destructive_hint is False


@pytest.mark.parametrize(
    "tool",
    [
        "retire_agent",
        "unretire_agent",
        "deregister_agent",
        "archive_project",
        "unarchive_project",
        "hard_delete_agent",
        "hard_delete_project",
        "purge_old_messages",
    ],
)
async def test_unknown_project_and_agent_are_not_found(client, tool):
    extra = {"confirmation": SURE} if tool.startswith("hard_delete") else {}
    await refused(client, tool, lifecycle_args(tool, project_key="/work/nope", **extra), r"^NOT_FOUND: Project")
    if "agent" in tool:
        await refused(
            client, tool, lifecycle_args(tool, agent_name="RedFix", **extra), r"^NOT_FOUND: .*Hint: Did you mean RedFox"
        )


async def test_retired_agent_neither_sends_nor_receives_until_unretired(client):
    await client.call_tool(
        "file_reservation_paths", {"project_key": PROJECT, "agent_name": "RedFox", "paths": ["src/**"]}
    )
    retired = (await client.call_tool("retire_agent", {"project_key": PROJECT, "agent_name": "redfox"})).data
    assert retired["status"] == "retired" and retired["agent_name"] == "RedFox"
    assert retired["retired_at"].endswith("+00:00") and retired["released_reservations"] == 1
    assert (await client.call_tool("retire_agent", {"project_key": PROJECT, "agent_name": "RedFox"})).data[
        "retired_at"
    ] == retired["retired_at"]
    profile = (await client.call_tool("whois", {"project_key": PROJECT, "agent_name": "RedFox"})).data
    assert profile["retired_at"] == retired["retired_at"]
    await refused(
        client,
        "send_message",
        {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "s", "body_md": "b"},
        r"^AGENT_RETIRED: .*RedFox",
    )
    await refused(
        client,
        "send_message",
        {"project_key": PROJECT, "sender_name": "RedFox", "to": ["BlueLake"], "subject": "s", "body_md": "b"},
        r"^AGENT_RETIRED: .*RedFox",
    )
    grabbed = (
        await client.call_tool(
            "file_reservation_paths", {"project_key": PROJECT, "agent_name": "BlueLake", "paths": ["src/**"]}
        )
    ).data
    assert grabbed["granted"] and not grabbed.get("conflicts")
    active = (await client.call_tool("unretire_agent", {"project_key": PROJECT, "agent_name": "RedFox"})).data
    assert active == {
        "status": "active",
        "agent_name": "RedFox",
        "project_key": PROJECT,
        "contact_policy": "auto",
        "verified": False,
    }
    assert (await send(client))["count"] == 1
    assert (await send(client, sender="RedFox", to="BlueLake"))["count"] == 1


async def test_deregister_takes_agent_out_of_service(client):
    await send(client, sender="RedFox", to="BlueLake")
    gone = (await client.call_tool("deregister_agent", {"project_key": PROJECT, "agent_name": "RedFox"})).data
    assert gone["status"] == "deregistered" and gone["contact_policy"] == "block_all" and gone["retired_at"]
    await refused(
        client,
        "send_message",
        {"project_key": PROJECT, "sender_name": "RedFox", "to": ["BlueLake"], "subject": "s", "body_md": "b"},
        r"^AGENT_RETIRED",
    )
    await refused(
        client,
        "reply_message",
        {"project_key": PROJECT, "sender_name": "BlueLake", "message_id": 1, "body_md": "thread participant"},
        r"^(AGENT_RETIRED|CONTACT_BLOCKED)",
    )
    history = (await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "BlueLake"})).data
    assert len(history) == 1
    back = (await client.call_tool("unretire_agent", {"project_key": PROJECT, "agent_name": "RedFox"})).data
    assert back["contact_policy"] == "block_all" and "set_contact_policy" in back["note"]


async def test_archived_project_refuses_writes_until_unarchived(client):
    archived = (await client.call_tool("archive_project", {"project_key": PROJECT})).data
    assert archived["status"] == "archived" and archived["slug"] == "work-life-test"
    assert archived["archived_at"].endswith("+00:00") and archived["verified"] is False
    await refused(
        client,
        "send_message",
        {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "s", "body_md": "b"},
        r"^PROJECT_ARCHIVED",
    )
    await refused(
        client,
        "file_reservation_paths",
        {"project_key": PROJECT, "agent_name": "BlueLake", "paths": ["a.py"]},
        r"^PROJECT_ARCHIVED",
    )
    await refused(
        client, "register_agent", {"project_key": PROJECT, "program": "p", "model": "m"}, r"^PROJECT_ARCHIVED"
    )
    await refused(
        client,
        "create_agent_identity",
        {"project_key": PROJECT, "program": "p", "model": "m"},
        r"^PROJECT_ARCHIVED.*Hint: Call unarchive_project",
    )
    again = (await client.call_tool("archive_project", {"project_key": PROJECT})).data
    assert again["archived_at"] == archived["archived_at"]
    assert (await send(client, project_key=OTHER, sender="GoldHawk", to="GoldHawk"))["count"] == 1
    active = (await client.call_tool("unarchive_project", {"project_key": PROJECT})).data
    assert active == {"status": "active", "project_key": PROJECT, "slug": "work-life-test", "verified": False}
    assert (await send(client))["count"] == 1


@pytest.mark.parametrize("confirmation", [None, "", "i understand", "I UNDERSTAND ", "yes"])
async def test_hard_deletes_need_exact_confirmation(client, confirmation):
    await send(client)
    extra = {} if confirmation is None else {"confirmation": confirmation}
    for tool in ("hard_delete_agent", "hard_delete_project"):
        await refused(client, tool, lifecycle_args(tool, **extra), r"^INVALID_ARGUMENT: .*I UNDERSTAND.*nothing")
    await refused(
        client,
        "purge_old_messages",
        {"project_key": PROJECT, "max_age_days": 1, "dry_run": False, **extra},
        r"^INVALID_ARGUMENT: .*I UNDERSTAND",
    )


async def test_hard_delete_agent_cleans_database_and_archive(client, isolated_env):
    storage = isolated_env["storage"]
    first = (await send(client, sender="RedFox", to="BlueLake"))["deliveries"][0]["payload"]["id"]
    await send(client, sender="BlueLake", to="RedFox", cc=["GreenCastle"])
    await send(client, sender="GreenCastle", to="BlueLake")
    await client.call_tool(
        "reply_message", {"project_key": PROJECT, "message_id": first, "sender_name": "BlueLake", "body_md": "re"}
    )
    await client.call_tool(
        "file_reservation_paths", {"project_key": PROJECT, "agent_name": "RedFox", "paths": ["docs/**"]}
    )
    archive.flush_pending()
    assert any("/agents/RedFox/" in f for f in archive_files(storage))
    before = await counts()
    result = (
        await client.call_tool(
            "hard_delete_agent", {"project_key": PROJECT, "agent_name": "redfox", "confirmation": SURE}
        )
    ).data
    assert result["status"] == "hard_deleted" and result["agent_name"] == "RedFox"
    assert result["deleted_counts"] == {
        "messages_sent": 1,
        "sent_message_recipients": 1,
        "message_recipients": 2,
        "file_reservations": 1,
        "agent_links": 0,
        "message_summaries": 0,
        "agent": 1,
    }
    after = await counts()
    assert after["agents"] == before["agents"] - 1 and after["messages"] == before["messages"] - 1
    assert after["message_recipients"] == before["message_recipients"] - 3 and after["file_reservations"] == 0
    await refused(client, "whois", {"project_key": PROJECT, "agent_name": "RedFox"}, r"^NOT_FOUND")
    inbox = (await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "BlueLake"})).data
    assert [m["subject"] for m in inbox] == ["from GreenCastle"]
    archive.flush_pending()
    files = archive_files(storage)
    assert not any("RedFox" in f for f in files)
    assert not any(f.endswith("__1.md") for f in files)  # every copy of RedFox's message is gone
    assert any("/agents/BlueLake/outbox/" in f for f in files) and any("GreenCastle" in f for f in files)
    for f in files:
        if f.endswith(".md") and "/threads/" not in f:
            front, _ = parse_message_document((storage / f).read_bytes())
            people = [front["from"], *front["to"], *front["cc"], *front.get("bcc", [])]
            assert "RedFox" not in people, f
    assert git_clean(storage)


async def test_hard_delete_project_cleans_everything_including_mail_elsewhere(client, isolated_env):
    storage = isolated_env["storage"]
    await send(client)
    kept = (await send(client, project_key=OTHER, sender="GoldHawk", to="GoldHawk"))["deliveries"][0]["payload"]
    await client.call_tool(
        "request_contact",
        {"project_key": PROJECT, "from_agent": "RedFox", "to_agent": "GoldHawk@work-life-other", "reason": "sync"},
    )
    for key, name in ((OTHER, "GoldHawk"), (PROJECT, "BlueLake")):
        await client.call_tool("set_contact_policy", {"project_key": key, "agent_name": name, "policy": "open"})
    outbound = (await send(client, to="GoldHawk@work-life-other"))["deliveries"][0]["payload"]
    inbound = await send(client, project_key=OTHER, sender="GoldHawk", to="BlueLake@work-life-test")
    await client.call_tool(
        "file_reservation_paths", {"project_key": PROJECT, "agent_name": "BlueLake", "paths": ["src/**"]}
    )
    await client.call_tool("summarize_recent", {"project_key": PROJECT})
    await client.call_tool("summarize_recent", {"project_key": PROJECT, "agent_name": "RedFox"})
    archive.flush_pending()
    assert (storage / "projects" / "work-life-test").is_dir()
    assert any(f.endswith(f"__{outbound['id']}.md") for f in archive_files(storage))
    before = await counts()
    result = (
        await client.call_tool("hard_delete_project", {"project_key": "work-life-test", "confirmation": SURE})
    ).data
    assert result["status"] == "hard_deleted" and result["project_key"] == PROJECT
    deleted = result["deleted_counts"]
    assert deleted["agents"] == 3 and deleted["file_reservations"] == 1 and deleted["project"] == 1
    assert deleted["agent_links"] >= 1 and deleted["message_summaries"] == 2
    after = await counts()
    assert after["projects"] == 1 and after["agents"] == 1 and after["agent_links"] == 0
    assert after["messages"] == before["messages"] - deleted["messages"]
    async with get_session() as s:
        left = set((await s.execute(text("SELECT id FROM messages"))).scalars())
    assert kept["id"] in left and outbound["id"] not in left
    inbound_id = inbound["deliveries"][0]["payload"]["id"]
    await refused(client, "fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"}, r"^NOT_FOUND: Project")
    archive.flush_pending()
    assert not (storage / "projects" / "work-life-test").exists()
    files = archive_files(storage)
    assert any(f.startswith("projects/work-life-other/") for f in files)
    assert not any(f.endswith(f"__{outbound['id']}.md") for f in files)
    for f in files:
        if f.endswith(f"__{inbound_id}.md"):
            front, _ = parse_message_document((storage / f).read_bytes())
            assert not any("BlueLake" in p for p in front["to"]), f
    assert git_clean(storage)
    # the path can be used again for a fresh project
    fresh = (await client.call_tool("ensure_project", {"human_key": PROJECT})).data
    assert fresh["slug"] == "work-life-test"


def archive_in_sync() -> str:
    finding = run_checks(get_settings()).get("archive")
    assert finding is not None
    return finding.status


async def test_hard_delete_agent_requeues_the_other_end_of_its_links(client):
    for sender, receiver in (("BlueLake", "RedFox"), ("RedFox", "GreenCastle")):
        await client.call_tool(
            "request_contact", {"project_key": PROJECT, "from_agent": sender, "to_agent": receiver, "reason": "sync"}
        )
    archive.flush_pending()
    assert archive_in_sync() == OK
    await client.call_tool("hard_delete_agent", {"project_key": PROJECT, "agent_name": "RedFox", "confirmation": SURE})
    archive.flush_pending()
    assert archive_in_sync() == OK


async def test_hard_delete_project_requeues_link_ends_in_other_projects(client):
    await client.call_tool(
        "request_contact",
        {"project_key": OTHER, "from_agent": "GoldHawk", "to_agent": "RedFox@work-life-test", "reason": "sync"},
    )
    archive.flush_pending()
    assert archive_in_sync() == OK
    await client.call_tool("hard_delete_project", {"project_key": PROJECT, "confirmation": SURE})
    archive.flush_pending()
    assert archive_in_sync() == OK


async def age_messages(days: int, *ids: int) -> None:
    m = schema.messages
    await run_write(
        lambda tx: tx.execute(update(m).where(m.c.id.in_(ids)).values(created_ts=utcnow() - timedelta(days=days)))
    )


async def test_purge_old_messages_dry_run_then_purge(client, isolated_env):
    storage = isolated_env["storage"]
    old = (await send(client))["deliveries"][0]["payload"]["id"]
    new = (await send(client, sender="RedFox", to="BlueLake"))["deliveries"][0]["payload"]["id"]
    elsewhere = (await send(client, project_key=OTHER, sender="GoldHawk", to="GoldHawk"))["deliveries"][0]
    await age_messages(400, old, elsewhere["payload"]["id"])
    archive.flush_pending()
    for bad in (0, -5, 100000):
        await refused(
            client,
            "purge_old_messages",
            {"project_key": PROJECT, "max_age_days": bad},
            r"^INVALID_ARGUMENT: max_age_days",
        )
    before = await counts()
    files_before = archive_files(storage)
    dry = (await client.call_tool("purge_old_messages", {"project_key": PROJECT, "max_age_days": 30})).data
    assert dry["status"] == "dry_run" and dry["messages_affected"] == 1 and dry["message_ids"] == [old]
    assert dry["cutoff_date"].endswith("+00:00") and dry["max_age_days"] == 30
    default = (await client.call_tool("purge_old_messages", {"project_key": PROJECT})).data
    assert default["max_age_days"] == 180 and default["messages_affected"] == 1
    archive.flush_pending()
    assert await counts() == before and archive_files(storage) == files_before
    purged = (
        await client.call_tool(
            "purge_old_messages", {"project_key": PROJECT, "max_age_days": 30, "dry_run": False, "confirmation": SURE}
        )
    ).data
    assert purged["status"] == "purged" and purged["messages_affected"] == 1
    after = await counts()
    assert after["messages"] == before["messages"] - 1
    assert after["message_recipients"] == before["message_recipients"] - 1
    inbox = (await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "BlueLake"})).data
    assert [m["id"] for m in inbox] == [new]
    assert (await client.call_tool("search_messages", {"project_key": PROJECT, "query": "BlueLake"})).data == []
    archive.flush_pending()
    files = archive_files(storage)
    assert not any(f.endswith(f"__{old}.md") for f in files)
    assert any(f.endswith(f"__{new}.md") for f in files)
    assert any(f.endswith(f"__{elsewhere['payload']['id']}.md") for f in files)  # other projects untouched
    assert git_clean(storage)


async def test_strict_mode_lifecycle_needs_proof(isolated_env, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    BINDINGS.clear()
    server = build_mcp_server()
    async with Client(server, mode="legacy") as owner:
        await owner.call_tool("ensure_project", {"human_key": PROJECT})
        red = (
            await owner.call_tool(
                "create_agent_identity", {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": "RedFox"}
            )
        ).data
        blue = (
            await owner.call_tool(
                "create_agent_identity", {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": "BlueLake"}
            )
        ).data
        retired = (await owner.call_tool("retire_agent", {"project_key": PROJECT, "agent_name": "BlueLake"})).data
        assert retired["verified"] is True
    async with Client(server, mode="legacy") as stranger:
        for tool in ("hard_delete_agent", "hard_delete_project"):
            await refused(stranger, tool, lifecycle_args(tool, confirmation=SURE), r"^UNAUTHORIZED")
        await refused(stranger, "purge_old_messages", {"project_key": PROJECT}, r"^UNAUTHORIZED")
        await refused(
            stranger,
            "unretire_agent",
            {"project_key": PROJECT, "agent_name": "BlueLake", "registration_token": red["registration_token"]},
            r"^UNAUTHORIZED: Invalid registration_token",
        )
        dry = (
            await stranger.call_tool(
                "purge_old_messages", {"project_key": PROJECT, "registration_token": blue["registration_token"]}
            )
        ).data
        assert dry["verified"] is True and dry["messages_affected"] == 0
        gone = (
            await stranger.call_tool(
                "hard_delete_agent",
                {
                    "project_key": PROJECT,
                    "agent_name": "RedFox",
                    "confirmation": SURE,
                    "registration_token": red["registration_token"],
                },
            )
        ).data
        assert gone["status"] == "hard_deleted" and gone["verified"] is True
        # this session proved BlueLake (via the purge), so it speaks for the project now
        done = (await stranger.call_tool("hard_delete_project", {"project_key": PROJECT, "confirmation": SURE})).data
        assert done["status"] == "hard_deleted" and done["verified"] is True
    assert await counts() == {
        "projects": 0,
        "agents": 0,
        "messages": 0,
        "message_recipients": 0,
        "file_reservations": 0,
        "agent_links": 0,
    }
