"""Mail resources read through fastmcp.Client: shapes, bcc privacy, commits, identity rules, no state change."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from dulwich.object_store import tree_lookup_path
from dulwich.repo import Repo
from fastmcp import Client
from fastmcp.exceptions import McpError
from resource_kit import PROJECT, call, fingerprint, read, settle

from mcp_agent_mail.config import get_settings

P = quote(PROJECT, safe="")


async def test_inbox_lists_received_mail_newest_first_without_bodies(world):
    async with Client(world["server"]) as c:
        box = await read(c, f"resource://inbox/redfox?project={P}")
        assert box["project"] == PROJECT and box["agent"] == "RedFox" and box["count"] == 2
        first, second = box["messages"]
        assert (first["id"], second["id"]) == (world["m2"], world["m1"])
        assert first["subject"] == "Secret plan" and first["kind"] == "to" and first["from"] == "BlueLake"
        assert first["importance"] == "urgent" and first["ack_required"] is True
        assert "body_md" not in first and "read_ts" not in first and "bcc" not in first
        assert all(v is not None for m in box["messages"] for v in m.values())
        bodies = await read(c, "resource://inbox/RedFox?project=work-resource-test&limit=1&include_bodies=true")
        assert bodies["count"] == 1 and bodies["messages"][0]["body_md"] == "hush"
        urgent = await read(c, f"resource://inbox/RedFox?project={P}&urgent_only=yes")
        assert [m["id"] for m in urgent["messages"]] == [world["m2"]]
        green = await read(c, f"resource://inbox/GreenCastle?project={P}")
        assert {m["id"]: m["kind"] for m in green["messages"]} == {world["m2"]: "bcc", world["m1"]: "cc"}


async def test_inbox_unread_only_leaves_out_what_the_agent_marked_read(world):
    async with Client(world["server"]) as c:
        await call(c, "mark_message_read", project_key=PROJECT, agent_name="RedFox", message_id=world["m1"])
        unread = await read(c, f"resource://inbox/RedFox?project={P}&unread_only=true")
        assert [m["id"] for m in unread["messages"]] == [world["m2"]]
        everything = await read(c, f"resource://inbox/RedFox?project={P}")
        assert [m["id"] for m in everything["messages"]] == [world["m2"], world["m1"]]


async def test_outbox_shows_recipients_including_bcc_to_the_sender(world):
    async with Client(world["server"]) as c:
        out = await read(c, f"resource://outbox/BlueLake?project={P}&include_bodies=1")
        assert out["agent"] == "BlueLake" and out["count"] == 2
        secret, plan = out["messages"]
        assert secret["to"] == ["RedFox"] and secret["bcc"] == ["GreenCastle"] and "cc" not in secret
        assert plan["cc"] == ["GreenCastle"] and plan["body_md"] == "the plan"


async def test_message_hides_bcc_from_everyone_but_the_sender(world):
    m2 = world["m2"]
    async with Client(world["server"]) as c:
        red = await read(c, f"resource://message/{m2}?project={P}&agent=RedFox")
        assert red["body_md"] == "hush" and red["to"] == ["RedFox"] and red["kind"] == "to"
        assert "bcc" not in red
        green = await read(c, f"resource://message/{m2}?project={P}&agent=GreenCastle")
        assert green["kind"] == "bcc" and "bcc" not in green
        blue = await read(c, f"resource://message/{m2}?project={P}&agent=BlueLake")
        assert blue["bcc"] == ["GreenCastle"] and "kind" not in blue
        # GreenCastle was not addressed by RedFox's reply: it is not visible to it.
        with pytest.raises(McpError, match=r"^NOT_FOUND"):
            await read(c, f"resource://message/{world['m3']}?project={P}&agent=GreenCastle")
        with pytest.raises(McpError, match=r"^INVALID_ARGUMENT"):
            await read(c, f"resource://message/abc?project={P}&agent=RedFox")


async def test_trusted_mode_reads_message_and_thread_without_agent_with_bcc_hidden(world):
    async with Client(world["server"]) as c:
        message = await read(c, f"resource://message/{world['m2']}?project={P}")
        assert message["subject"] == "Secret plan" and message["body_md"] == "hush"
        assert message["to"] == ["RedFox"] and "bcc" not in message and "kind" not in message
        thread = await read(c, f"resource://thread/{world['m1']}?project={P}&include_bodies=true")
        assert [m["id"] for m in thread["messages"]] == [world["m1"], world["m3"]]
        assert "viewer" not in thread and all("bcc" not in m for m in thread["messages"])
        with pytest.raises(McpError, match=r"^NOT_FOUND: Message 999"):
            await read(c, f"resource://message/999?project={P}")


async def test_anonymous_reader_sees_only_the_named_projects_mail(world):
    async with Client(world["server"]) as c:
        await call(c, "ensure_project", human_key="/work/other-project")
        with pytest.raises(McpError, match=r"^NOT_FOUND: Message"):
            await read(c, f"resource://message/{world['m2']}?project=work-other-project")
        empty = await read(c, f"resource://thread/{world['m1']}?project=work-other-project")
        assert empty["count"] == 0 and empty["messages"] == []


async def test_strict_mode_still_asks_who_reads_a_message_or_thread(strict_mode, world):
    async with Client(world["server"]) as c:
        for uri in (
            f"resource://message/{world['m2']}?project={P}",
            f"resource://thread/{world['m1']}?project={P}",
        ):
            with pytest.raises(McpError, match=r"^UNAUTHORIZED"):
                await read(c, uri)


async def test_thread_lists_visible_messages_oldest_first(world):
    async with Client(world["server"]) as c:
        thread = await read(c, f"resource://thread/{world['m1']}?project={P}&agent=BlueLake&include_bodies=true")
        assert thread["thread_id"] == str(world["m1"]) and thread["viewer"] == "BlueLake"
        assert [m["id"] for m in thread["messages"]] == [world["m1"], world["m3"]]
        assert thread["messages"][1]["body_md"] == "agreed" and thread["messages"][1]["to"] == ["BlueLake"]
        green = await read(c, f"resource://thread/{world['m1']}?project={P}&agent=GreenCastle")
        assert [m["id"] for m in green["messages"]] == [world["m1"]]
        assert "body_md" not in green["messages"][0]


async def test_mailbox_with_commits_names_the_commit_that_added_each_message(world):
    async with Client(world["server"]) as c:
        plain = await read(c, f"resource://mailbox/RedFox?project={P}")
        assert plain["count"] == 2 and all("commit" not in m for m in plain["messages"])
        before = await read(c, f"resource://mailbox-with-commits/RedFox?project={P}")
        # A later receipt commit carries the same Message-Id trailer; the adding commit must not change.
        await call(c, "mark_message_read", project_key=PROJECT, agent_name="RedFox", message_id=world["m2"])
        await settle()
        box = await read(c, f"resource://mailbox-with-commits/RedFox?project={P}")
    assert [m["commit"] for m in box["messages"]] == [m["commit"] for m in before["messages"]]
    root = Path(get_settings().storage.root)
    repo = Repo(str(root))
    try:
        shas = {c.commit.id.decode(): c.commit for c in repo.get_walker()}
        for item in box["messages"]:
            commit = item["commit"]
            assert set(commit) == {"hexsha", "summary", "authored_ts"} and commit["authored_ts"].endswith("+00:00")
            [full] = [sha for sha in shas if sha.startswith(commit["hexsha"])]
            found = shas[full]
            assert f"Message-Id: {item['id']}" in found.message.decode()
            parent = shas[found.parents[0].decode()]
            added = [
                new.decode()
                for (old, new), _modes, _shas in repo.object_store.tree_changes(parent.tree, found.tree)
                if old is None and new is not None and new.decode().endswith(f"__{item['id']}.md")
            ]
            canonical = [p for p in added if "/messages/20" in p]
            assert canonical and tree_lookup_path(repo.object_store.__getitem__, found.tree, canonical[0].encode())
    finally:
        repo.close()


async def test_unknown_project_or_agent_and_bad_parameters_are_coded(world):
    async with Client(world["server"]) as c:
        with pytest.raises(McpError, match=r"^NOT_FOUND: Project"):
            await read(c, "resource://inbox/RedFox?project=nowhere")
        with pytest.raises(McpError, match=r"^NOT_FOUND: Agent 'Nobody'"):
            await read(c, f"resource://outbox/Nobody?project={P}")
        with pytest.raises(McpError, match=r"^INVALID_ARGUMENT: .*project query parameter"):
            await read(c, "resource://mailbox/RedFox")
        with pytest.raises(McpError, match=r"^INVALID_ARGUMENT: limit"):
            await read(c, f"resource://inbox/RedFox?project={P}&limit=0")
        with pytest.raises(McpError, match=r"^INVALID_ARGUMENT: include_bodies"):
            await read(c, f"resource://inbox/RedFox?project={P}&include_bodies=maybe")


async def test_reading_mail_changes_nothing(world):
    before = await fingerprint()
    async with Client(world["server"]) as c:
        for uri in (
            f"resource://inbox/RedFox?project={P}&include_bodies=true",
            f"resource://outbox/BlueLake?project={P}",
            f"resource://mailbox/RedFox?project={P}",
            f"resource://mailbox-with-commits/RedFox?project={P}",
            f"resource://thread/{world['m1']}?project={P}&agent=RedFox&include_bodies=true",
            f"resource://message/{world['m2']}?project={P}&agent=RedFox",
        ):
            await read(c, uri)
    assert await fingerprint() == before


async def test_trusted_mode_reads_without_token_but_refuses_a_wrong_one(world):
    async with Client(world["server"]) as c:
        assert (await read(c, f"resource://inbox/RedFox?project={P}"))["count"] == 2
        with pytest.raises(McpError, match=r"^UNAUTHORIZED"):
            await read(c, f"resource://inbox/RedFox?project={P}&agent_token=wrong")


async def test_strict_mode_needs_the_agents_token(strict_mode, world):
    tokens = world["tokens"]
    before = await fingerprint()
    async with Client(world["server"]) as c:  # a new connection: no session bound to anyone
        for uri in (
            f"resource://inbox/RedFox?project={P}",
            f"resource://outbox/RedFox?project={P}",
            f"resource://mailbox/RedFox?project={P}",
            f"resource://mailbox-with-commits/RedFox?project={P}",
            f"resource://views/ack-required/RedFox?project={P}",
            f"resource://message/{world['m2']}?project={P}&agent=RedFox",
            f"resource://thread/{world['m1']}?project={P}&agent=RedFox",
            f"resource://inbox/RedFox?project={P}&agent_token={tokens['BlueLake']}",  # another agent's token
        ):
            with pytest.raises(McpError, match=r"^UNAUTHORIZED"):
                await read(c, uri)
        red = tokens["RedFox"]
        assert (await read(c, f"resource://inbox/RedFox?project={P}&agent_token={red}"))["count"] == 2
        seen = await read(c, f"resource://message/{world['m2']}?project={P}&agent_token={red}")
        assert seen["subject"] == "Secret plan" and "bcc" not in seen
        thread = await read(c, f"resource://thread/{world['m1']}?project={P}&agent_token={red}")
        assert thread["viewer"] == "RedFox"
    assert await fingerprint() == before


async def test_strict_mode_accepts_the_session_that_registered_the_agent(strict_mode, server):
    async with Client(server, mode="legacy") as c:
        await call(c, "ensure_project", human_key=PROJECT)
        await call(c, "create_agent_identity", project_key=PROJECT, program="p", model="m", name_hint="BlueLake")
        box = await read(c, f"resource://inbox/BlueLake?project={P}")
        assert box == {"project": PROJECT, "agent": "BlueLake", "count": 0, "messages": []}
