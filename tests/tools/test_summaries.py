"""Summary and topic tools through an in-memory MCP client: content, refs, privacy, storage, refusals."""

from __future__ import annotations

import json

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import run_write

PROJECT = "/work/summary-test"
AGENTS = ("BlueLake", "RedFox", "GreenCastle", "PurpleBear")

PLAN = """Plan for the cache.

- Cache layer lives in `src/cache.py`
- Keep the public API stable
- [ ] Write migration notes in docs/cache.md
- [x] Sketch the design
TODO: measure eviction
Which storage backend should we pick? Who owns the deploy script?
"""
ANSWER = """SQLite is the storage backend for now.
We decided to keep the public API stable.
- Keep the public API stable
@BlueLake please review src/app.py
"""


async def call(client: Client, tool: str, **args):
    result = await client.call_tool(tool, {"project_key": PROJECT, **args})
    return (
        result.data
        if isinstance(result.structured_content, dict) and "result" not in result.structured_content
        else result.structured_content["result"]
    )


async def send(client: Client, sender: str, to: list[str], body: str, **extra) -> int:
    result = await call(
        client, "send_message", sender_name=sender, to=to, subject=extra.pop("subject", "Plan"), body_md=body, **extra
    )
    return result["deliveries"][0]["payload"]["id"]


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in AGENTS:
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


@pytest.fixture
async def thread(client):
    """FEAT-7: a plan (bcc PurpleBear), a public answer, and a private note GreenCastle cannot see."""
    plan = await send(
        client, "BlueLake", ["RedFox"], PLAN, cc=["GreenCastle"], bcc=["PurpleBear"], thread_id="FEAT-7", topic="cache"
    )
    reply = await call(
        client, "reply_message", message_id=plan, sender_name="RedFox", body_md=ANSWER, cc=["GreenCastle"]
    )
    answer = reply["deliveries"][0]["payload"]["id"]
    private = await send(client, "RedFox", ["BlueLake"], "- Secret plan item", thread_id="FEAT-7")
    return {"plan": plan, "answer": answer, "private": private}


async def snapshot() -> tuple[int, ...]:
    counts = tuple(db_kit.count(name) for name in ("messages", "message_recipients", "message_summaries"))
    return (*counts, db_kit.outbox_last_id())


async def refused(client: Client, tool: str, args: dict, pattern: str) -> str:
    before = await snapshot()
    with pytest.raises(ToolError, match=pattern) as info:
        await client.call_tool(tool, {"project_key": PROJECT, **args})
    assert await snapshot() == before
    return str(info.value)


async def test_thread_summary_lists_sections_with_refs(client, thread):
    plan, answer, private = thread["plan"], thread["answer"], thread["private"]
    result = await call(client, "summarize_thread", thread_id="FEAT-7", agent_name="BlueLake")
    assert result["thread_id"] == "FEAT-7" and "examples" not in result and result["verified"] is False
    summary = result["summary"]
    assert summary["participants"] == ["BlueLake", "GreenCastle", "RedFox"]
    assert summary["total_messages"] == 3
    assert summary["key_points"] == [
        {"text": "Cache layer lives in `src/cache.py`", "refs": [plan]},
        {"text": "Keep the public API stable", "refs": [plan, answer]},
        {"text": "Secret plan item", "refs": [private]},
    ]
    assert summary["decisions"] == [{"text": "We decided to keep the public API stable.", "refs": [answer]}]
    assert summary["action_items"] == [
        {"text": "Write migration notes in docs/cache.md", "kind": "checkbox", "refs": [plan]},
        {"text": "TODO: measure eviction", "kind": "todo", "refs": [plan]},
        {"text": "@BlueLake please review src/app.py", "kind": "request", "assignee": "BlueLake", "refs": [answer]},
    ]
    assert summary["done_actions"] == [{"text": "Sketch the design", "refs": [plan]}]
    assert summary["open_questions"] == [
        {"text": "Who owns the deploy script?", "asked_by": "BlueLake", "refs": [plan]}
    ]
    assert summary["mentioned_files"] == [
        {"path": "src/cache.py", "refs": [plan]},
        {"path": "docs/cache.md", "refs": [plan]},
        {"path": "src/app.py", "refs": [answer]},
    ]
    assert summary["mentions"] == [{"name": "BlueLake", "count": 1, "refs": [answer]}]
    assert "llm_model" not in summary and "llm_fallback" not in summary


async def test_visibility_and_bcc_privacy(client, thread):
    green = (await call(client, "summarize_thread", thread_id="FEAT-7", agent_name="GreenCastle"))["summary"]
    assert green["total_messages"] == 2
    assert "Secret plan item" not in json.dumps(green)
    assert thread["private"] not in {ref for item in green["key_points"] for ref in item["refs"]}

    purple = (await call(client, "summarize_thread", thread_id="FEAT-7", agent_name="purple-bear"))["summary"]
    assert purple["total_messages"] == 1  # the bcc copy is visible to its own recipient
    assert purple["participants"] == ["BlueLake", "GreenCastle", "RedFox"]

    for viewer in ("RedFox", "GreenCastle", None):
        args = {"thread_id": "FEAT-7", "include_examples": True}
        if viewer:
            args["agent_name"] = viewer
        result = await call(client, "summarize_thread", **args)
        assert "PurpleBear" not in json.dumps(result)
    everyone = await call(client, "summarize_thread", thread_id="FEAT-7", include_examples=True)
    assert everyone["summary"]["total_messages"] == 3
    assert [e["id"] for e in everyone["examples"]] == [thread["plan"], thread["answer"], thread["private"]]
    assert set(everyone["examples"][0]) == {"id", "subject", "from", "created_ts"}
    assert everyone["examples"][0]["created_ts"].endswith("+00:00")

    # A thread holding only mail GreenCastle cannot see is, for GreenCastle, not there.
    await send(client, "RedFox", ["BlueLake"], "hidden", thread_id="PRIV-1")
    message = await refused(
        client,
        "summarize_thread",
        {"thread_id": "PRIV-1", "agent_name": "GreenCastle"},
        r"^NOT_FOUND: No message visible to GreenCastle",
    )
    assert "Hint:" in message


async def test_per_thread_limit_keeps_the_latest_messages(client, thread):
    result = await call(client, "summarize_thread", thread_id="FEAT-7", per_thread_limit=2, include_examples=True)
    summary = result["summary"]
    assert summary["total_messages"] == 3 and summary["summarized_messages"] == 2 and summary["truncated"] is True
    refs = {ref for key in ("key_points", "decisions", "action_items") for item in summary[key] for ref in item["refs"]}
    assert refs == {thread["answer"], thread["private"]}
    assert [e["id"] for e in result["examples"]] == [thread["answer"], thread["private"]]


async def test_multi_thread_mode(client, thread):
    ops = await send(
        client, "GreenCastle", ["RedFox"], "- [ ] Rotate keys\n@RedFox can you check logs/app.log?", thread_id="OPS-1"
    )
    result = await call(client, "summarize_thread", thread_id="FEAT-7, OPS-1,NOPE-9,OPS-1", per_thread_limit=1)
    assert [t["thread_id"] for t in result["threads"]] == ["FEAT-7", "OPS-1"]
    assert result["missing_thread_ids"] == ["NOPE-9"]
    assert result["threads"][0]["summary"]["summarized_messages"] == 1  # the limit holds in multi mode too
    aggregate = result["aggregate"]
    assert aggregate["total_messages"] == 4 and aggregate["summarized_messages"] == 2
    assert aggregate["participants"] == ["BlueLake", "GreenCastle", "RedFox"]
    assert {"text": "Rotate keys", "kind": "checkbox", "refs": [ops]} in aggregate["action_items"]
    request = next(a for a in aggregate["action_items"] if a["kind"] == "request" and a["refs"] == [ops])
    assert request["assignee"] == "RedFox"
    assert {"name": "RedFox", "count": 1, "refs": [ops]} in aggregate["top_mentions"]
    await refused(client, "summarize_thread", {"thread_id": "NOPE-1,NOPE-2"}, r"^NOT_FOUND: No message in thread")


async def test_numeric_thread_includes_its_seed_message(client):
    seed = await send(client, "BlueLake", ["RedFox"], "- first point")
    await call(client, "reply_message", message_id=seed, sender_name="RedFox", body_md="- second point")
    summary = (await call(client, "summarize_thread", thread_id=str(seed)))["summary"]
    assert summary["total_messages"] == 2
    assert [k["text"] for k in summary["key_points"]] == ["first point", "second point"]


async def test_summarize_recent_stores_and_fetch_summary_lists(client, thread):
    old = text("UPDATE messages SET created_ts = '2020-01-01 00:00:00.000000' WHERE id = :i")
    await run_write(lambda tx: tx.execute(old, {"i": thread["plan"]}))  # an old message falls outside the window
    ops = await send(client, "GreenCastle", ["RedFox"], "- Rotate keys", thread_id="OPS-1")
    stored = await call(client, "summarize_recent", since_hours=24)
    assert stored["source_message_count"] == 3
    assert stored["source_thread_ids"] == ["FEAT-7", "OPS-1"]
    assert stored["summary"]["total_threads"] == 2 and stored["summary"]["total_messages"] == 3
    assert stored["start_ts"].endswith("+00:00") and stored["end_ts"] > stored["start_ts"]
    assert "PurpleBear" not in json.dumps(stored) and "llm_model" not in stored

    mine = await call(client, "summarize_recent", since_hours=24, agent_name="GreenCastle", max_messages=1)
    assert mine["agent_name"] == "GreenCastle" and mine["source_message_count"] == 1
    assert mine["summary"]["truncated"] is True and "most recent" in mine["summary"]["truncation_note"]
    assert mine["summary"]["key_points"] == [{"text": "Rotate keys", "refs": [ops]}]  # the newest is kept

    listed = await call(client, "fetch_summary", since_hours=1)
    assert [s["id"] for s in listed] == [stored["id"]]
    assert listed[0]["summary"] == stored["summary"] and listed[0]["created_ts"] == stored["created_ts"]
    assert [s["id"] for s in await call(client, "fetch_summary", agent_name="GreenCastle")] == [mine["id"]]
    assert await call(client, "fetch_summary", agent_name="RedFox") == []
    newer = await call(client, "summarize_recent")
    assert [s["id"] for s in await call(client, "fetch_summary", limit=1)] == [newer["id"]]


async def test_summarize_recent_with_nothing_in_the_window_stores_nothing(client):
    before = await snapshot()
    result = await call(client, "summarize_recent", since_hours=0.5)
    assert "id" not in result and result["source_message_count"] == 0 and result["summary"]["total_messages"] == 0
    assert await snapshot() == before


async def test_fetch_topic(client, thread):
    newest_first = [thread["answer"], thread["plan"]]
    items = await call(client, "fetch_topic", topic_name="CACHE", include_bodies=True)
    assert [i["id"] for i in items] == newest_first
    assert items[0]["thread_id"] == "FEAT-7" and items[0]["from"] == "RedFox" and items[0]["topic"] == "cache"
    assert {"subject", "importance", "created_ts", "body_md"} <= set(items[0])
    assert "body_md" not in (await call(client, "fetch_topic", topic_name="CACHE"))[0]  # bodies only when asked
    assert "bcc" not in items[1] and "to" not in items[1]
    assert [i["id"] for i in await call(client, "fetch_topic", topic="cache", agent_name="GreenCastle")] == newest_first
    lean = await call(client, "fetch_topic", topic_name="cache", agent_name="PurpleBear", include_bodies=False)
    assert [i["id"] for i in lean] == [thread["plan"]] and "body_md" not in lean[0]
    assert [i["id"] for i in await call(client, "fetch_topic", topic_name="cache", limit=1)] == [thread["answer"]]
    assert await call(client, "fetch_topic", topic_name="other") == []


async def test_refusals_change_nothing(client, thread):
    await refused(client, "summarize_recent", {"project_key": "/nope"}, r"^NOT_FOUND: Project")
    for hours in (0, -1, 9000):
        await refused(client, "summarize_recent", {"since_hours": hours}, r"^INVALID_ARGUMENT: since_hours")
        await refused(client, "fetch_summary", {"since_hours": hours}, r"^INVALID_ARGUMENT: since_hours")
    await refused(client, "summarize_recent", {"max_messages": 0}, r"^INVALID_ARGUMENT: max_messages")
    await refused(client, "summarize_recent", {"agent_name": "Nobody"}, r"^NOT_FOUND: Agent 'Nobody'")
    await refused(client, "fetch_summary", {"limit": 0}, r"^INVALID_ARGUMENT: limit")
    await refused(client, "fetch_summary", {"limit": 1001}, r"^INVALID_ARGUMENT: limit")
    await refused(client, "fetch_topic", {"topic_name": "no spaces!"}, r"^INVALID_ARGUMENT: topic")
    await refused(client, "fetch_topic", {"topic_name": "  "}, r"^INVALID_ARGUMENT: topic_name is empty")
    await refused(client, "fetch_topic", {"topic_name": "a", "topic": "b"}, r"^INVALID_ARGUMENT: topic_name and")
    await refused(client, "fetch_topic", {"topic_name": "cache", "limit": 0}, r"^INVALID_ARGUMENT: limit")
    await refused(client, "fetch_topic", {"topic_name": "cache", "since_ts": "yesterday"}, r"^INVALID_ARGUMENT")
    await refused(client, "summarize_thread", {"thread_id": "bad id!"}, r"^INVALID_ARGUMENT: thread_id")
    await refused(client, "summarize_thread", {"thread_id": " , "}, r"^INVALID_ARGUMENT: thread_id is empty")
    await refused(
        client,
        "summarize_thread",
        {"thread_id": "FEAT-7", "per_thread_limit": 0},
        r"^INVALID_ARGUMENT: per_thread_limit",
    )
    text_ = await refused(client, "summarize_thread", {"thread_id": "NOPE-1"}, r"^NOT_FOUND: No message in thread")
    assert "Hint: Thread ids come from" in text_
    await refused(
        client, "summarize_thread", {"thread_id": "FEAT-7", "project_key": "YOUR_PROJECT"}, r"^CONFIGURATION_ERROR"
    )


async def test_tool_annotations(client):
    tools = {t.name: t for t in await client.list_tools()}
    expected = {
        "summarize_thread": (True, False, True, True),
        "summarize_recent": (False, False, False, True),
        "fetch_summary": (True, False, True, False),
        "fetch_topic": (True, False, True, False),
    }
    for name, hints in expected.items():
        a = tools[name].annotations
        assert (a.readOnlyHint, a.destructiveHint, a.idempotentHint, a.openWorldHint) == hints, name
        assert tools[name].description and len(tools[name].description) > 80


async def test_strict_identity_mode_needs_proof_to_read_or_summarise(isolated_env, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    from mcp_agent_mail.config import clear_settings_cache

    clear_settings_cache()
    server = build_mcp_server()
    async with Client(server) as setup:
        await setup.call_tool("ensure_project", {"human_key": PROJECT})
        tokens = {}
        for name in ("BlueLake", "RedFox"):
            reply = await setup.call_tool(
                "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name}
            )
            tokens[name] = reply.data["registration_token"]
        await setup.call_tool(
            "send_message",
            {
                "project_key": PROJECT,
                "sender_name": "BlueLake",
                "sender_token": tokens["BlueLake"],
                "to": ["RedFox"],
                "subject": "s",
                "body_md": "- point",
                "thread_id": "S-1",
                "topic": "t",
            },
        )
    async with Client(server) as stranger:  # a new session, bound to no agent
        for tool, args in (
            ("summarize_recent", {}),
            ("summarize_thread", {"thread_id": "S-1"}),
            ("fetch_topic", {"topic_name": "t"}),
            ("fetch_summary", {}),
            ("summarize_recent", {"agent_name": "RedFox"}),
        ):
            await refused(stranger, tool, args, r"^UNAUTHORIZED")
        proved = await call(stranger, "summarize_recent", agent_name="RedFox", registration_token=tokens["RedFox"])
        assert proved["agent_name"] == "RedFox" and proved["verified"] is True
        assert proved["summary"]["key_points"][0]["text"] == "point"


async def test_replies_stored_in_another_project_belong_to_the_thread(client):
    other = "/work/summary-other"
    await client.call_tool("ensure_project", {"human_key": other})
    await client.call_tool("register_agent", {"project_key": other, "program": "p", "model": "m", "name": "GoldHawk"})
    for key, name in ((other, "GoldHawk"), (PROJECT, "BlueLake")):
        await client.call_tool("set_contact_policy", {"project_key": key, "agent_name": name, "policy": "open"})
    asked = await send(
        client, "BlueLake", ["GoldHawk@work-summary-other"], "Which backend?", thread_id="X-1", topic="xproj"
    )
    reply = await client.call_tool(
        "send_message",
        {
            "project_key": other,
            "sender_name": "GoldHawk",
            "to": ["BlueLake@work-summary-test"],
            "subject": "Re",
            "body_md": "SQLite.",
            "thread_id": "X-1",
            "topic": "xproj",
        },
    )
    answered = reply.data["deliveries"][0]["payload"]["id"]
    for viewer in ({"agent_name": "BlueLake"}, {}):
        result = await call(client, "summarize_thread", thread_id="X-1", include_examples=True, **viewer)
        assert result["summary"]["total_messages"] == 2, viewer
        assert {e["id"] for e in result["examples"]} == {asked, answered}
        assert any(e["from"] == "GoldHawk@work-summary-other" for e in result["examples"])
        items = await call(client, "fetch_topic", topic_name="xproj", **viewer)
        assert [i["id"] for i in items] == [answered, asked], viewer
        assert items[0]["from"] == "GoldHawk@work-summary-other"
    # a viewer who received neither message sees nothing of the thread
    assert await call(client, "fetch_topic", topic_name="xproj", agent_name="RedFox") == []
