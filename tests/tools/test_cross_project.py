"""Mail between agents of two projects: contacts, one stored message, inboxes, search, replies and the archive."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import WriteTransaction, get_session, run_write

FRONTEND = "/work/frontend"
BACKEND = "/work/backend"


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        for project, names in ((FRONTEND, ("BlueLake", "GreenCastle")), (BACKEND, ("RedFox",))):
            await c.call_tool("ensure_project", {"human_key": project})
            for name in names:
                await c.call_tool(
                    "register_agent", {"project_key": project, "program": "p", "model": "m", "name": name}
                )
        yield c


async def call(client, tool: str, **args):
    result = await client.call_tool(tool, args)
    if isinstance(result.structured_content, dict) and set(result.structured_content) == {"result"}:
        return result.structured_content["result"]
    return result.data


async def send(client, to, sender="BlueLake", project=FRONTEND, **extra):
    return await call(
        client,
        "send_message",
        project_key=project,
        sender_name=sender,
        to=to,
        subject=extra.pop("subject", "API change"),
        body_md=extra.pop("body_md", "New field."),
        **extra,
    )


async def counts() -> tuple[int, int, int]:
    async with get_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM message_recipients), "
                    "(SELECT count(*) FROM agent_links)"
                )
            )
        ).one()
    return tuple(row)


async def refused(client, pattern: str, **args) -> str:
    before = await counts()
    with pytest.raises(ToolError, match=pattern) as info:
        await send(client, **args)
    assert await counts() == before
    return str(info.value)


async def approve(client) -> None:
    await call(
        client,
        "request_contact",
        project_key=FRONTEND,
        from_agent="BlueLake",
        to_agent="RedFox",
        to_project="work-backend",
        reason="API questions",
    )
    await call(
        client,
        "respond_contact",
        project_key=BACKEND,
        to_agent="RedFox",
        from_agent="BlueLake@work-frontend",
        accept=True,
    )


async def test_cross_project_mail_needs_an_approved_link(client):
    hint = await refused(client, r"^CONTACT_REQUIRED: .*RedFox@work-backend", to=["RedFox@work-backend"])
    assert "request_contact(project_key='/work/frontend', from_agent='BlueLake', to_agent='RedFox', " in hint
    assert "to_project='work-backend'" in hint
    await refused(client, r"^NOT_FOUND: .*Project 'nowhere'", to=["RedFox@nowhere"])
    await refused(client, r"^NOT_FOUND: .*No agent 'GoldHawk'", to=["project:work-backend#GoldHawk"])
    # A bare name never reaches another project, even with a link (no implicit routing).
    await approve(client)
    await refused(client, r"^NOT_FOUND: Unknown recipient", to=["RedFox"])
    # A link approved for BlueLake does not let GreenCastle in.
    await refused(client, r"^CONTACT_REQUIRED", to=["RedFox@work-backend"], sender="GreenCastle")


async def test_request_reaches_the_other_project(client):
    request = await call(
        client,
        "request_contact",
        project_key=FRONTEND,
        from_agent="BlueLake",
        to_agent="project:work-backend#redfox",
        reason="API questions",
    )
    assert request["to_project"] == BACKEND and request["from_project"] == FRONTEND
    inbox = await call(client, "fetch_inbox", project_key=BACKEND, agent_name="RedFox", include_bodies=True)
    assert inbox[0]["from"] == "BlueLake@work-frontend" and inbox[0]["ack_required"] is True
    assert "from_project='/work/frontend'" in inbox[0]["body_md"]
    incoming = await call(client, "list_contacts", project_key=BACKEND, agent_name="RedFox")
    assert [(e["direction"], e["from"], e["from_project"]) for e in incoming] == [("incoming", "BlueLake", FRONTEND)]
    answer = await call(
        client,
        "respond_contact",
        project_key=BACKEND,
        to_agent="RedFox",
        from_agent="BlueLake",
        from_project=FRONTEND,
        accept=True,
    )
    assert answer["approved"] is True and answer["from_project"] == FRONTEND


async def test_delivery_inbox_reply_search_and_archive(client):
    await approve(client)
    sent = await send(
        client,
        to=["RedFox@work-backend"],
        cc=["GreenCastle"],
        subject="Schema v2",
        body_md="Please review the orders schema.",
    )
    payload = sent["deliveries"][0]["payload"]
    assert sent["count"] == 1 and sent["deliveries"][0]["project"] == FRONTEND
    assert payload["to"] == ["RedFox@work-backend"] and payload["cc"] == ["GreenCastle"]
    async with get_session() as session:
        stored = (await session.execute(text("SELECT count(*) FROM messages WHERE subject = 'Schema v2'"))).scalar_one()
    assert stored == 1

    inbox = await call(client, "fetch_inbox", project_key=BACKEND, agent_name="RedFox")
    assert [(m["from"], m["subject"]) for m in inbox] == [
        ("BlueLake@work-frontend", "Schema v2"),
        ("BlueLake@work-frontend", "Contact request from BlueLake"),
    ]
    assert inbox[0]["id"] == payload["id"] and inbox[0]["kind"] == "to"
    read = await call(client, "mark_message_read", project_key=BACKEND, agent_name="RedFox", message_id=payload["id"])
    assert read["read"] is True
    hits = await call(client, "search_messages", project_key=BACKEND, query="orders schema")
    assert [(h["id"], h["from"]) for h in hits] == [(payload["id"], "BlueLake@work-frontend")]
    mine = await call(client, "search_messages", project_key=BACKEND, query="orders", agent_name="RedFox")
    assert [h["id"] for h in mine] == [payload["id"]]

    # RedFox has no link to BlueLake, but having received mail in the thread lets it answer.
    reply = await call(
        client,
        "reply_message",
        project_key=BACKEND,
        message_id=payload["id"],
        sender_name="RedFox",
        body_md="Looks good.",
    )
    reply_payload = reply["deliveries"][0]["payload"]
    assert reply_payload["to"] == ["BlueLake@work-frontend"] and reply["thread_id"] == str(payload["id"])
    back = await call(client, "fetch_inbox", project_key=FRONTEND, agent_name="BlueLake")
    assert back[0]["from"] == "RedFox@work-backend" and back[0]["thread_id"] == str(payload["id"])
    # Once the exchange is older than CONTACT_AUTO_TTL_SECONDS, a new thread needs RedFox's own link.
    await run_write(lambda tx: tx.execute(text("UPDATE messages SET created_ts = '2020-01-01 00:00:00.000000'")))
    await refused(
        client, r"^CONTACT_REQUIRED", to=["BlueLake@work-frontend"], sender="RedFox", project=BACKEND, thread_id="OTHER"
    )

    flush_pending()
    root = Path(get_settings().storage.root)
    copies = sorted(p.relative_to(root).as_posix() for p in root.rglob(f"*__{payload['id']}.md"))
    assert any(p.startswith("projects/work-backend/agents/RedFox/inbox/") for p in copies)
    assert any(p.startswith("projects/work-frontend/agents/BlueLake/outbox/") for p in copies)
    assert any(p.startswith("projects/work-frontend/messages/") for p in copies)
    inbox_copy = next(p for p in copies if "/RedFox/inbox/" in p)
    front, body = parse_message_document((root / inbox_copy).read_bytes())
    assert front["to"] == ["RedFox@work-backend"] and body == "Please review the orders schema."
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""


async def test_archived_or_retired_foreign_recipient_is_refused(client):
    await approve(client)
    retire = text("UPDATE agents SET retired_at = '2026-01-01 00:00:00.000000' WHERE name = 'RedFox'")
    await run_write(lambda tx: tx.execute(retire))
    await refused(client, r"^AGENT_RETIRED: Recipient\(s\) retired: RedFox@work-backend", to=["RedFox@work-backend"])

    async def archive_backend(tx: WriteTransaction) -> None:
        await tx.execute(text("UPDATE agents SET retired_at = NULL"))
        await tx.execute(
            text("UPDATE projects SET archived_at = '2026-01-01 00:00:00.000000' WHERE slug = 'work-backend'")
        )

    await run_write(archive_backend)
    await refused(client, r"^PROJECT_ARCHIVED: .*work-backend", to=["RedFox@work-backend"])
