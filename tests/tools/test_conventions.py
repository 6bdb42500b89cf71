"""MCP conventions of every tool: annotations, descriptions, output schemas that results conform to,
lean results, and the ``format`` option of list tools."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import get_session
from mcp_agent_mail.db.types import to_db_text
from mcp_agent_mail.timeutil import utcnow
from mcp_agent_mail.tools.formatting import prune, render_table

OLD = time.time() - 3 * 86400
LIST_TOOLS = ("fetch_inbox", "search_messages", "list_contacts", "fetch_topic", "fetch_summary")


def git(repo: Path, *args: str) -> None:
    stamp = f"@{int(OLD)} +0000"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


async def sql(statement: str, **params: Any) -> Any:
    async with get_session() as session:
        result = await session.execute(text(statement), params)
        await session.commit()
        return result


@pytest.fixture
async def client(isolated_env, monkeypatch):
    monkeypatch.setenv("TOOLS_PROFILE", "full")
    async with Client(build_mcp_server()) as c:
        yield c


@pytest.fixture
async def tool_defs(client):
    return {tool.name: tool for tool in await client.list_tools()}


async def test_every_tool_has_annotations_description_and_a_real_output_schema(tool_defs):
    assert len(tool_defs) == 41
    for name, tool in tool_defs.items():
        hints = tool.annotations
        assert hints is not None, name
        for hint in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"):
            assert isinstance(getattr(hints, hint), bool), (name, hint)
        if hints.readOnlyHint:
            assert not hints.destructiveHint, name
        assert tool.description and 40 <= len(tool.description) <= 400, name
        schema = tool.outputSchema
        assert schema and schema.get("type") == "object", name
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema != {"type": "object", "additionalProperties": True}, name
        assert "properties" in json.dumps(schema), name
        assert "title" not in tool.inputSchema, name
        # The only union published: a list parameter that also takes one plain string.
        one_or_many = [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        assert all(p.get("anyOf") in (None, one_or_many) for p in tool.inputSchema["properties"].values()), name
    assert tool_defs["hard_delete_project"].annotations.destructiveHint
    assert tool_defs["summarize_thread"].annotations.openWorldHint
    assert tool_defs["fetch_inbox"].annotations.readOnlyHint and tool_defs["fetch_inbox"].annotations.idempotentHint
    assert not tool_defs["send_message"].annotations.idempotentHint
    for name in LIST_TOOLS:
        assert "format" in tool_defs[name].inputSchema["properties"], name


async def test_every_tool_result_conforms_to_its_output_schema(client, tool_defs, isolated_env):
    tmp = isolated_env["tmp_path"]
    repo, other = tmp / "repo", tmp / "other"
    repo.mkdir()
    other.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x\n")
    git(repo, "add", "a.py")
    git(repo, "commit", "-qm", "a")
    os.utime(repo / "a.py", (OLD, OLD))
    pk, ok = str(repo), str(other)
    seen: dict[str, int] = {}

    async def call(tool: str, **args: Any) -> Any:
        result = await client.call_tool(tool, args)
        jsonschema.validate(result.structured_content, tool_defs[tool].outputSchema)
        seen[tool] = seen.get(tool, 0) + 1
        return result.data

    await call("health_check")
    await call("ensure_project", human_key=pk)
    await call("ensure_project", human_key=ok)
    await call("register_agent", project_key=pk, program="p", model="m", name="GreenCastle", task_description="t")
    bear = (await call("create_agent_identity", project_key=pk, program="p", model="m"))["name"]
    await call("register_agent", project_key=ok, program="p", model="m", name="RedFox")
    await call("whois", project_key=pk, agent_name="GreenCastle")
    await call("set_contact_policy", project_key=pk, agent_name=bear, policy="open")
    sent = await call(
        "send_message",
        project_key=pk,
        sender_name="GreenCastle",
        to=[bear],
        subject="Plan POL-1",
        body_md=f"- [ ] @{bear} please review a.py\nDecision: ship it",
        ack_required=True,
        topic="build",
        importance="high",
    )
    mid = sent["deliveries"][0]["payload"]["id"]
    assert "cc" not in sent["deliveries"][0]["payload"]  # empty fields are left out
    await call("reply_message", project_key=pk, message_id=mid, sender_name=bear, body_md="ok")
    for fmt in ("json", "table"):
        await call("fetch_inbox", project_key=pk, agent_name=bear, include_bodies=True, format=fmt)
        await call("search_messages", project_key=pk, query="plan", format=fmt)
    await call("wait_for_mail", project_key=pk, agent_name=bear, timeout_seconds=0)
    await call("mark_message_read", project_key=pk, agent_name=bear, message_id=mid)
    await call("acknowledge_message", project_key=pk, agent_name=bear, message_id=mid)
    await call("request_contact", project_key=pk, from_agent="GreenCastle", to_agent="RedFox", to_project=ok)
    await call(
        "respond_contact", project_key=ok, to_agent="RedFox", from_agent="GreenCastle", from_project=pk, accept=True
    )
    await call("list_contacts", project_key=pk, agent_name="GreenCastle")
    await call("list_contacts", project_key=pk, agent_name="GreenCastle", format="table")
    await call(
        "macro_contact_handshake",
        project_key=pk,
        requester=bear,
        target="RedFox",
        to_project=ok,
        auto_accept=True,
        welcome_subject="hello",
        welcome_body="hi",
    )
    await call("file_reservation_paths", project_key=pk, agent_name="GreenCastle", paths=["a.py", "src/**"])
    await call("file_reservation_paths", project_key=pk, agent_name=bear, paths=["a.py"])
    await call("renew_file_reservations", project_key=pk, agent_name="GreenCastle", extend_seconds=600)
    await call("release_file_reservations", project_key=pk, agent_name="GreenCastle", paths=["src/**"])
    hours_ago = to_db_text(utcnow() - timedelta(hours=2))
    await sql("UPDATE agents SET last_active_ts = :t WHERE name = 'GreenCastle'", t=hours_ago)
    await sql("UPDATE messages SET created_ts = :t", t=hours_ago)
    await sql("UPDATE message_recipients SET read_ts = NULL, ack_ts = NULL")
    held = (await sql("SELECT id FROM file_reservations WHERE released_ts IS NULL AND path_pattern = 'a.py'")).scalar()
    await call("force_release_file_reservation", project_key=pk, agent_name=bear, file_reservation_id=held)
    await call("summarize_thread", project_key=pk, thread_id=str(mid), include_examples=True)
    await call("summarize_thread", project_key=pk, thread_id=f"{mid},{mid}")
    await call("summarize_recent", project_key=pk)
    for fmt in ("json", "table"):
        await call("fetch_summary", project_key=pk, format=fmt)
        await call("fetch_topic", project_key=pk, topic_name="build", format=fmt)
    await call("macro_start_session", human_key=pk, program="p", model="m", file_reservation_paths=["b.py"])
    await call(
        "macro_prepare_thread", project_key=pk, thread_id=str(mid), program="p", model="m", agent_name="GreenCastle"
    )
    await call(
        "macro_file_reservation_cycle", project_key=pk, agent_name="GreenCastle", paths=["c.py"], auto_release=True
    )
    await call("retire_agent", project_key=pk, agent_name=bear)
    await call("unretire_agent", project_key=pk, agent_name=bear)
    await call("deregister_agent", project_key=pk, agent_name=bear)
    await call("archive_project", project_key=ok)
    await call("unarchive_project", project_key=ok)
    await call("purge_old_messages", project_key=pk, max_age_days=1)
    await call("purge_old_messages", project_key=pk, max_age_days=1, dry_run=False, confirmation="I UNDERSTAND")
    await call("hard_delete_agent", project_key=pk, agent_name=bear, confirmation="I UNDERSTAND")
    await call("hard_delete_project", project_key=ok, confirmation="I UNDERSTAND")
    window = "0f8fad5b-d9cb-469f-a165-70867728950e"
    now = utcnow()
    await sql(
        "INSERT INTO window_identities (project_id, window_uuid, display_name, created_ts, last_active_ts, "
        "expires_ts) SELECT id, :w, 'SilverOwl', :t, :t, :e FROM projects WHERE human_key = :pk",
        w=window,
        t=to_db_text(now),
        e=to_db_text(now + timedelta(days=1)),
        pk=pk,
    )
    for fmt in ("json", "table"):
        await call("list_window_identities", project_key=pk, format=fmt)
    await call("rename_window", project_key=pk, window_uuid=window, new_display_name="GoldOwl")
    await call("expire_window", project_key=pk, window_uuid=window)
    await call("install_precommit_guard", project_key=pk, code_repo_path=pk)
    await call("uninstall_precommit_guard", project_key=pk, code_repo_path=pk)
    assert set(seen) == set(tool_defs)


async def _mail(client) -> tuple[str, int]:
    pk = "/work/conventions"
    await client.call_tool("ensure_project", {"human_key": pk})
    for name in ("BlueLake", "RedFox"):
        await client.call_tool("register_agent", {"project_key": pk, "program": "p", "model": "m", "name": name})
    sent = await client.call_tool(
        "send_message",
        {
            "project_key": pk,
            "sender_name": "BlueLake",
            "to": ["RedFox"],
            "subject": "Build | status",
            "body_md": "line one\nline two",
        },
    )
    return pk, sent.data["deliveries"][0]["payload"]["id"]


async def test_table_format_returns_compact_text(client):
    pk, mid = await _mail(client)
    as_json = await client.call_tool("fetch_inbox", {"project_key": pk, "agent_name": "RedFox"})
    assert isinstance(as_json.data, list) and as_json.structured_content["result"][0]["id"] == mid
    table = await client.call_tool("fetch_inbox", {"project_key": pk, "agent_name": "RedFox", "format": "TABLE"})
    lines = table.data.split("\n")
    header = lines[0].split("|")
    assert header[:2] == ["id", "project_id"] and "subject" in header and "created_ts" in header
    row = dict(zip(header, lines[1].split("|", len(header) - 1), strict=False))
    assert row["id"] == str(mid) and row["from"] == "BlueLake"
    assert "Build \\| status" in lines[1]
    assert table.content[0].text == table.data  # the model reads the table itself, not JSON around it
    assert table.structured_content == {"result": table.data}
    bodies = await client.call_tool(
        "fetch_inbox", {"project_key": pk, "agent_name": "RedFox", "format": "table", "include_bodies": True}
    )
    assert "line one\\nline two" in bodies.data and len(bodies.data.split("\n")) == 2
    empty = await client.call_tool("search_messages", {"project_key": pk, "query": "nothing", "format": "table"})
    assert empty.data == ""


async def test_invalid_format_is_refused_before_anything_runs(client):
    pk, _ = await _mail(client)
    before = (await sql("SELECT last_active_ts FROM agents WHERE name = 'RedFox'")).scalar()
    for tool, args in [
        ("fetch_inbox", {"project_key": pk, "agent_name": "RedFox"}),
        ("fetch_inbox", {"project_key": "/no/such/project", "agent_name": "Nobody"}),
        ("search_messages", {"project_key": pk, "query": "build"}),
        ("list_contacts", {"project_key": pk, "agent_name": "RedFox"}),
        ("fetch_topic", {"project_key": pk, "topic_name": "x"}),
        ("fetch_summary", {"project_key": pk}),
    ]:
        with pytest.raises(ToolError) as info:
            await client.call_tool(tool, {**args, "format": "toon"})
        assert str(info.value).startswith("INVALID_ARGUMENT"), tool
        assert "table" in str(info.value)
    assert (await sql("SELECT last_active_ts FROM agents WHERE name = 'RedFox'")).scalar() == before


def test_prune_drops_null_and_empty_fields_but_keeps_answers():
    result = prune(
        {
            "a": None,
            "b": "",
            "c": [],
            "d": {},
            "e": 0,
            "f": False,
            "granted": [],
            "conflicts": [],
            "nested": {"x": None, "y": [{"z": "", "w": 1}]},
            "empty_after": {"x": None},
        }
    )
    assert result == {"e": 0, "f": False, "granted": [], "conflicts": [], "nested": {"y": [{"w": 1}]}}


def test_render_table_escapes_and_unions_keys():
    text_table = render_table([{"a": 1, "b": "x|y"}, {"b": "p\\q", "c": [1, 2], "a": True}, {"a": "n\nl"}])
    assert text_table.split("\n") == ["a|b|c", "1|x\\|y|", "true|p\\\\q|[1,2]", "n\\nl||"]
    assert render_table([]) == ""
