"""Messaging tools through an in-memory MCP client: send, reply, inbox and receipts."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import select, text

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import get_session, run_write, schema
from mcp_agent_mail.services.mail.messages import in_thread

PROJECT = "/work/mail-test"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in AGENTS:
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


async def send(client, **overrides):
    args = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "Hi", "body_md": "b"}
    args.update(overrides)
    return (await client.call_tool("send_message", args)).data


async def inbox(client, agent="RedFox", **extra):
    result = await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": agent, **extra})
    return result.structured_content["result"]


async def snapshot() -> tuple[int, ...]:
    """Counts and receipts that any refused call must leave unchanged."""
    async with get_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM message_recipients), "
                    "(SELECT count(*) FROM message_recipients WHERE read_ts IS NOT NULL OR ack_ts IS NOT NULL)"
                )
            )
        ).one()
    messages, recipients, receipts = row
    return messages, recipients, db_kit.outbox_last_id(), receipts


async def refused(client, tool: str, args: dict, pattern: str) -> str:
    before = await snapshot()
    with pytest.raises(ToolError, match=pattern) as info:
        await client.call_tool(tool, args)
    assert await snapshot() == before
    return str(info.value)


async def test_send_message_delivers_and_returns_payload(client):
    result = await send(
        client,
        to=["redfox", "Green-Castle"],
        cc=["RedFox"],
        bcc=["BlueLake"],
        importance="HIGH",
        subject="  Plan  ",
        body_md="**go**",
        ack_required=True,
        topic="build-status",
    )
    assert result["count"] == 1
    delivery = result["deliveries"][0]
    assert delivery["project"] == PROJECT
    payload = delivery["payload"]
    assert payload["to"] == ["RedFox", "GreenCastle"]
    assert "cc" not in payload and payload["bcc"] == ["BlueLake"]  # empty fields are omitted
    assert payload["subject"] == "Plan" and payload["importance"] == "high" and payload["ack_required"] is True
    assert payload["from"] == "BlueLake" and payload["topic"] == "build-status" and payload["body_md"] == "**go**"
    assert payload["created_ts"].endswith("+00:00")
    assert "thread_id" not in payload and "notices" not in result

    red = await inbox(client, include_bodies=True)
    assert [(m["id"], m["kind"], m["body_md"]) for m in red] == [(payload["id"], "to", "**go**")]
    assert "read_ts" not in red[0] and "bcc" not in red[0] and "to" not in red[0]
    assert (await inbox(client, agent="BlueLake"))[0]["kind"] == "bcc"
    async with get_session() as session:
        kinds = (
            await session.execute(text("SELECT kind, count(*) FROM message_recipients GROUP BY kind ORDER BY kind"))
        ).all()
        queued = (await session.execute(text("SELECT ref FROM archive_outbox WHERE kind = 'message'"))).scalars().all()
    assert [tuple(k) for k in kinds] == [("bcc", 1), ("to", 2)]
    assert queued == [str(payload["id"])]


async def test_send_accepts_plain_string_recipient_and_self_send(client):
    result = await send(client, to="BlueLake")
    assert result["deliveries"][0]["payload"]["to"] == ["BlueLake"]
    assert len(await inbox(client, agent="BlueLake")) == 1


async def test_long_subject_is_cut_with_a_notice(client):
    result = await send(client, subject="x" * 250)
    assert len(result["deliveries"][0]["payload"]["subject"]) == 200
    assert "cut to 200" in result["notices"][0]


async def test_send_refusals_change_nothing(client):
    base = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "s", "body_md": "b"}
    await refused(client, "send_message", {**base, "project_key": "/nope"}, r"^NOT_FOUND: Project")
    text_ = await refused(
        client,
        "send_message",
        {**base, "to": ["RedFix", "Nobody-1"], "cc": ["claude-code"]},
        r"^NOT_FOUND: Unknown recipient",
    )
    assert "RedFix" in text_ and "Nobody-1" in text_ and "did you mean RedFox" in text_
    assert "program name" in text_
    await refused(client, "send_message", {**base, "sender_name": "GreyWolf"}, r"^NOT_FOUND: Agent 'GreyWolf'")
    await refused(client, "send_message", {**base, "to": []}, r"^INVALID_ARGUMENT: The message has no recipients")
    await refused(client, "send_message", {**base, "to": ["  "]}, r"^INVALID_ARGUMENT: to\[0\] is empty")
    await refused(client, "send_message", {**base, "importance": "critical"}, r"^INVALID_ARGUMENT: importance")
    await refused(client, "send_message", {**base, "thread_id": "bad thread!"}, r"^INVALID_ARGUMENT: thread_id")
    await refused(client, "send_message", {**base, "thread_id": "-x"}, r"^INVALID_ARGUMENT: thread_id")
    await refused(client, "send_message", {**base, "topic": "no spaces"}, r"^INVALID_ARGUMENT: topic")
    await refused(client, "send_message", {**base, "subject": "   "}, r"^INVALID_ARGUMENT: subject is empty")
    await refused(client, "send_message", {**base, "body_md": "x" * (1024 * 1024 + 1)}, r"^INVALID_ARGUMENT: body_md")
    await refused(client, "send_message", {**base, "to": ["YOUR_AGENT"]}, r"^CONFIGURATION_ERROR")


async def test_blank_thread_id_means_no_thread(client):
    payload = (await send(client, thread_id="  "))["deliveries"][0]["payload"]
    assert "thread_id" not in payload


async def test_retired_agents_and_archived_projects_refuse_mail(client):
    await run_write(
        lambda tx: tx.execute(text("UPDATE agents SET retired_at = '2026-01-01 00:00:00.000000' WHERE name = 'RedFox'"))
    )
    base = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "s", "body_md": "b"}
    await refused(client, "send_message", base, r"^AGENT_RETIRED: Recipient\(s\) retired: RedFox")
    await refused(
        client,
        "send_message",
        {**base, "sender_name": "RedFox", "to": ["BlueLake"]},
        r"^AGENT_RETIRED: Agent 'RedFox' is retired",
    )
    await run_write(lambda tx: tx.execute(text("UPDATE projects SET archived_at = '2026-01-01 00:00:00.000000'")))
    await refused(client, "send_message", {**base, "to": ["GreenCastle"]}, r"^PROJECT_ARCHIVED")


async def test_thread_follow_ups_and_reply(client):
    first = (
        await send(
            client, to=["RedFox", "GreenCastle"], subject="Plan", importance="urgent", ack_required=True, topic="ops"
        )
    )["deliveries"][0]["payload"]
    follow = (await send(client, thread_id=str(first["id"])))["deliveries"][0]["payload"]
    assert follow["thread_id"] == str(first["id"])

    reply = (
        await client.call_tool(
            "reply_message",
            {
                "project_key": PROJECT,
                "message_id": first["id"],
                "sender_name": "RedFox",
                "body_md": "ok",
            },
        )
    ).data
    payload = reply["deliveries"][0]["payload"]
    assert reply["thread_id"] == str(first["id"]) and reply["reply_to"] == first["id"]
    assert payload["subject"] == "Re: Plan" and payload["to"] == ["BlueLake"]
    assert payload["importance"] == "urgent" and payload["ack_required"] is True and payload["topic"] == "ops"

    again = (
        await client.call_tool(
            "reply_message",
            {
                "project_key": PROJECT,
                "message_id": payload["id"],
                "sender_name": "BlueLake",
                "body_md": "k",
                "subject_prefix": "RE:",
            },
        )
    ).data["deliveries"][0]["payload"]
    assert again["subject"] == "Re: Plan" and again["to"] == ["RedFox"]
    assert again["thread_id"] == str(first["id"])

    own = (
        await client.call_tool(
            "reply_message",
            {
                "project_key": PROJECT,
                "message_id": first["id"],
                "sender_name": "BlueLake",
                "body_md": "also",
            },
        )
    ).data["deliveries"][0]["payload"]
    assert own["to"] == ["GreenCastle", "RedFox"]


async def test_thread_membership_includes_the_seed_message(client):
    seed = (await send(client))["deliveries"][0]["payload"]["id"]
    follow = (await send(client, thread_id=str(seed)))["deliveries"][0]["payload"]["id"]
    reply = (
        await client.call_tool(
            "reply_message",
            {
                "project_key": PROJECT,
                "message_id": follow,
                "sender_name": "RedFox",
                "body_md": "r",
            },
        )
    ).data["deliveries"][0]["payload"]["id"]
    await send(client, thread_id="FEAT-1")
    async with get_session() as session:
        ids = (
            (
                await session.execute(
                    select(schema.messages.c.id).where(in_thread(str(seed))).order_by(schema.messages.c.id)
                )
            )
            .scalars()
            .all()
        )
        named = (await session.execute(select(schema.messages.c.id).where(in_thread("FEAT-1")))).scalars().all()
    assert ids == [seed, follow, reply]
    assert len(named) == 1


async def test_reply_refusals_change_nothing(client):
    first = (await send(client))["deliveries"][0]["payload"]
    base = {"project_key": PROJECT, "message_id": first["id"], "sender_name": "RedFox", "body_md": "b"}
    await refused(
        client,
        "reply_message",
        {**base, "sender_name": "GreenCastle"},
        r"^NOT_FOUND: Message \d+ not found or not visible to GreenCastle",
    )
    await refused(client, "reply_message", {**base, "message_id": 999}, r"^NOT_FOUND: Message 999")
    await refused(client, "reply_message", {**base, "to": []}, r"^INVALID_ARGUMENT: The message has no recipients")
    await refused(client, "reply_message", {**base, "to": ["Ghost-1"]}, r"^NOT_FOUND: Unknown recipient")


async def test_fetch_inbox_filters_and_never_marks_read(client):
    ids = []
    for importance in ("low", "high", "urgent", "normal"):
        ids.append((await send(client, importance=importance, subject=importance))["deliveries"][0]["payload"]["id"])
    await send(client, to=["GreenCastle"], subject="not for red")
    items = await inbox(client)
    assert [m["id"] for m in items] == ids[::-1]
    assert "body_md" not in items[0]
    assert [m["importance"] for m in await inbox(client, urgent_only=True)] == ["urgent", "high"]
    assert len(await inbox(client, limit=2)) == 2
    assert all("read_ts" not in m for m in await inbox(client))

    since = items[1]["created_ts"]
    assert [m["id"] for m in await inbox(client, since_ts=since)] == [ids[-1]]
    assert len(await inbox(client, since_ts=since.replace("+00:00", "Z"))) == 1
    assert len(await inbox(client, since_ts="  ")) == 4


async def test_fetch_inbox_errors(client):
    cases = [
        ({"limit": 0}, r"^INVALID_ARGUMENT: limit"),
        ({"limit": -5}, r"^INVALID_ARGUMENT: limit"),
        ({"limit": 10**6}, r"^INVALID_ARGUMENT: limit"),
        ({"since_ts": "yesterday"}, r"^INVALID_ARGUMENT: since_ts"),
        ({"agent_name": "Nobody-1"}, r"^NOT_FOUND: Agent"),
        ({"project_key": "/nope"}, r"^NOT_FOUND: Project"),
    ]
    for extra, pattern in cases:
        with pytest.raises(ToolError, match=pattern):
            await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox", **extra})


async def test_mark_read_and_acknowledge_are_idempotent(client):
    mid = (await send(client, ack_required=True))["deliveries"][0]["payload"]["id"]
    args = {"project_key": PROJECT, "agent_name": "redfox", "message_id": mid}
    read = (await client.call_tool("mark_message_read", args)).data
    assert read["message_id"] == mid and read["read"] is True and read["read_at"].endswith("+00:00")
    assert (await client.call_tool("mark_message_read", args)).data == read

    ack = (await client.call_tool("acknowledge_message", args)).data
    assert ack["acknowledged"] is True and ack["read_at"] == read["read_at"]
    assert (await client.call_tool("acknowledge_message", args)).data == ack
    item = (await inbox(client))[0]
    assert item["read_ts"] == read["read_at"] and item["ack_ts"] == ack["acknowledged_at"]
    async with get_session() as session:
        receipts = (
            await session.execute(text("SELECT count(*) FROM archive_outbox WHERE kind = 'receipt'"))
        ).scalar_one()
    assert receipts == 2  # one per change of state, none for the repeats


async def test_acknowledge_sets_read_too(client):
    mid = (await send(client, to=[], cc=["GreenCastle"]))["deliveries"][0]["payload"]["id"]
    ack = (
        await client.call_tool(
            "acknowledge_message", {"project_key": PROJECT, "agent_name": "GreenCastle", "message_id": mid}
        )
    ).data
    assert ack["read_at"] == ack["acknowledged_at"]


async def test_receipts_only_for_recipients(client):
    mid = (await send(client))["deliveries"][0]["payload"]["id"]
    for tool in ("mark_message_read", "acknowledge_message"):
        for agent, message_id in (("GreenCastle", mid), ("BlueLake", mid), ("RedFox", 12345)):
            await refused(
                client,
                tool,
                {"project_key": PROJECT, "agent_name": agent, "message_id": message_id},
                r"^NOT_FOUND: Message \d+ is not in the inbox",
            )


async def test_tool_annotations_are_truthful(client):
    tools = {t.name: t for t in await client.list_tools()}
    assert tools["fetch_inbox"].annotations.read_only_hint is True
    assert tools["search_messages"].annotations.read_only_hint is True
    assert tools["send_message"].annotations.read_only_hint is False
    assert tools["send_message"].annotations.idempotent_hint is False
    assert tools["acknowledge_message"].annotations.idempotent_hint is True
