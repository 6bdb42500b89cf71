"""After an import, the imported agents re-register and go on mailing through the tools."""

from __future__ import annotations

import asyncio

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from import_kit import doctor_problems, legacy, run_import

from legacy_fixture import BACKEND
from mcp_agent_mail.app import build_mcp_server


async def test_imported_agents_re_register_then_send_and_receive(isolated_env):
    mailbox = legacy(isolated_env)
    report = await asyncio.to_thread(run_import, mailbox)
    assert await asyncio.to_thread(doctor_problems) == []

    async with Client(build_mcp_server()) as client:
        for name in report.agents_to_register["work-legacy-backend"][:2]:
            claimed = await client.call_tool(
                "register_agent", {"project_key": BACKEND, "program": "codex", "model": "gpt", "name": name}
            )
            assert claimed.data["name"] == name and claimed.data["id"] in (1, 2)  # the imported agent, not a new one
        inbox = await client.call_tool("fetch_inbox", {"project_key": BACKEND, "agent_name": "RedFox"})
        before = {m["subject"] for m in inbox.structured_content["result"]}
        assert {"Schema plan", "Diagram"} <= before

        # RedFox kept its contacts_only policy: BlueLake has no approved link to it.
        with pytest.raises(ToolError, match=r"^CONTACT_REQUIRED"):
            await client.call_tool(
                "send_message",
                {"project_key": BACKEND, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "x", "body_md": "y",
                 "auto_contact_if_blocked": False},
            )  # fmt: skip
        # RedFox's approved link to BlueLake came across with it.
        sent = await client.call_tool(
            "send_message",
            {
                "project_key": BACKEND,
                "sender_name": "RedFox",
                "to": ["BlueLake"],
                "subject": "After the move",
                "body_md": "Still here.",
                "thread_id": "FEAT-7",
            },
        )
        new_id = sent.data["deliveries"][0]["payload"]["id"]
        assert new_id > 5  # the id counters moved past the imported ids

        inbox = await client.call_tool("fetch_inbox", {"project_key": BACKEND, "agent_name": "BlueLake"})
        subjects = [m["subject"] for m in inbox.structured_content["result"]]
        assert "After the move" in subjects and "Re: Schema plan" in subjects
        thread = await client.call_tool(
            "summarize_thread", {"project_key": BACKEND, "thread_id": "FEAT-7", "include_examples": True}
        )
        assert thread.data is not None

    assert await asyncio.to_thread(doctor_problems) == []
