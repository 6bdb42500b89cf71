"""End to end: MCP tool calls land in the Git archive through the outbox and the lifespan writer."""

from __future__ import annotations

import asyncio
import json

from fastmcp import Client

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending, pending_count
from mcp_agent_mail.archive.render import parse_message_document

PROJECT = "/work/archive-e2e"
SLUG = "projects/work-archive-e2e"


async def test_tool_calls_are_archived(isolated_env, archive):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox", "GreenCastle"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        sent = await c.call_tool(
            "send_message",
            {
                "project_key": PROJECT,
                "sender_name": "BlueLake",
                "to": ["RedFox"],
                "bcc": ["GreenCastle"],
                "subject": "Deploy window",
                "body_md": "Tonight at 22:00.",
                "ack_required": True,
            },
        )
        mid = sent.data["deliveries"][0]["payload"]["id"]
        await c.call_tool("acknowledge_message", {"project_key": PROJECT, "agent_name": "RedFox", "message_id": mid})
        await c.call_tool(
            "file_reservation_paths",
            {"project_key": PROJECT, "agent_name": "RedFox", "paths": ["deploy/**"], "reason": "deploy"},
        )
        await asyncio.to_thread(flush_pending)  # whois lists archive commits: let them exist first
        profile = (await c.call_tool("whois", {"project_key": PROJECT, "agent_name": "RedFox"})).data

    assert pending_count() == 0
    files = archive.files(SLUG)
    assert json.loads(files[f"{SLUG}/project.json"])["human_key"] == PROJECT
    assert {p.split("/")[3] for p in files if p.endswith("profile.json")} == {"BlueLake", "RedFox", "GreenCastle"}

    copies = {p: parse_message_document(d) for p, d in files.items() if p.endswith(f"__{mid}.md")}
    assert len(copies) == 4  # canonical, sender outbox, two inbox copies
    for path, (front, body) in copies.items():
        assert body == "Tonight at 22:00."
        if "/agents/RedFox/inbox/" in path:
            assert front["ack_ts"] is not None and front["read_ts"] is not None
        if "/agents/BlueLake/outbox/" in path or "/agents/GreenCastle/inbox/" in path:
            assert front["bcc"] == ["GreenCastle"]
        else:
            assert "GreenCastle" not in json.dumps(front)
    reservations = [json.loads(d) for p, d in files.items() if "/file_reservations/id-" in p]
    assert [(r["agent"], r["path_pattern"]) for r in reservations] == [("RedFox", "deploy/**")]
    mail_lines = [line for line in archive.git("log", "--format=%B").splitlines() if "mail: " in line]
    assert mail_lines and not [line for line in mail_lines if "GreenCastle" in line]
    assert profile["recent_commits"] and isinstance(profile["recent_commits"], list)
    archive.assert_clean()
