"""What the archive shows for projects, agents, messages, receipts and reservations."""

from __future__ import annotations

import json

from fastmcp import Client
from sqlalchemy import select

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending, pending_count
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.db import get_session, schema
from mcp_agent_mail.timeutil import iso

PROJECT = "projects/work-demo-repo"


def _message_file(archive, folder: str, message_id: int) -> tuple[str, dict, str]:
    matches = [p for p in archive.files(folder) if p.endswith(f"__{message_id}.md")]
    assert len(matches) == 1, matches
    front, body = parse_message_document((archive.root / matches[0]).read_bytes())
    return matches[0], front, body


def test_project_and_agent_files_without_secrets(seed, archive):
    pid = seed.project()
    seed.agent(pid, "GreenCastle", task_description="refactor parser")

    assert flush_pending() == 2

    project = json.loads((archive.root / PROJECT / "project.json").read_text())
    assert project == {
        "id": pid,
        "slug": "work-demo-repo",
        "human_key": "/work/demo-repo",
        "created_at": "2026-03-04T05:06:08.123457+00:00",
    }
    raw = (archive.root / PROJECT / "agents/GreenCastle/profile.json").read_text()
    profile = json.loads(raw)
    assert profile["name"] == "GreenCastle"
    assert profile["task_description"] == "refactor parser"
    assert profile["contact_policy"] == "auto"
    assert {"id", "program", "model", "inception_ts", "last_active_ts", "attachments_policy"} <= set(profile)
    assert "token" not in raw and "f" * 64 not in raw
    assert raw.startswith('{\n  "attachments_policy"')  # indent 2, sorted keys
    assert (archive.root / ".gitattributes").read_bytes() == b"*.json text\n*.md text\n"
    assert archive.subjects()[-1] == "chore: initialize archive"
    assert pending_count() == 0
    archive.assert_clean()


def test_message_copies_keep_bcc_private(seed, archive):
    pid = seed.project()
    alice, bob, carol, dave = (seed.agent(pid, n) for n in ("Alice", "Bob", "Carol", "Dave"))
    flush_pending()
    mid = seed.message(pid, alice, "Plan: v2 / rollout!", "Line one\n\nLine two", to=(bob,), cc=(carol,), bcc=(dave,))
    flush_pending()

    path, front, body = _message_file(archive, f"{PROJECT}/messages", mid)
    assert path == f"{PROJECT}/messages/2026/03/2026-03-04T05-06-13Z__plan-v2-rollout__{mid}.md"
    assert body == "Line one\n\nLine two"
    assert front["to"] == ["Bob"] and front["cc"] == ["Carol"]
    assert front["from"] == "Alice" and front["project"] == "/work/demo-repo"
    assert front["project_slug"] == "work-demo-repo" and front["importance"] == "high"
    assert front["ack_required"] is True and front["thread_id"] is None
    assert front["created"] == "2026-03-04T05:06:13.123462+00:00"
    assert "bcc" not in front

    _, outbox, _ = _message_file(archive, f"{PROJECT}/agents/Alice/outbox", mid)
    assert outbox["bcc"] == ["Dave"]

    _, bob_copy, _ = _message_file(archive, f"{PROJECT}/agents/Bob/inbox", mid)
    assert bob_copy["kind"] == "to" and bob_copy["read_ts"] is None and bob_copy["ack_ts"] is None
    assert "bcc" not in bob_copy
    _, dave_copy, _ = _message_file(archive, f"{PROJECT}/agents/Dave/inbox", mid)
    assert dave_copy["kind"] == "bcc" and dave_copy["bcc"] == ["Dave"]

    for rel, data in archive.files().items():
        if "/agents/Dave/" in rel or "/agents/Alice/outbox/" in rel:
            continue
        assert b"Dave" not in data, rel
    head = archive.commits()[0].message.decode()
    assert head.startswith("mail: Alice -> Bob, Carol | Plan: v2 / rollout!\n")
    assert "Dave" not in head
    assert f"Message-Id: {mid}" in head and "Agent: Alice" in head
    archive.assert_clean()


def test_receipt_shows_in_recipient_inbox_copy(seed, archive):
    pid = seed.project()
    alice, bob, carol = (seed.agent(pid, n) for n in ("Alice", "Bob", "Carol"))
    mid = seed.message(pid, alice, "Ack me", to=(bob, carol))
    flush_pending()
    read_at = seed.receipt(pid, mid, bob, ack=True)
    assert flush_pending() == 1

    _, bob_copy, _ = _message_file(archive, f"{PROJECT}/agents/Bob/inbox", mid)
    assert bob_copy["read_ts"] == read_at.isoformat() and bob_copy["ack_ts"] == read_at.isoformat()
    _, carol_copy, _ = _message_file(archive, f"{PROJECT}/agents/Carol/inbox", mid)
    assert carol_copy["read_ts"] is None
    assert archive.subjects()[0] == f"receipt: message {mid} | Ack me"
    archive.assert_clean()


def test_thread_digest_includes_seed_and_is_rerendered_whole(seed, archive):
    pid = seed.project()
    alice, bob, eve = (seed.agent(pid, n) for n in ("Alice", "Bob", "Eve"))
    first = seed.message(pid, alice, "Kickoff", "Let us start.", to=(bob,), bcc=(eve,))
    flush_pending()
    digest = archive.root / PROJECT / f"messages/threads/{first}.md"
    assert not digest.exists()  # a lone message is not a thread yet

    reply = seed.message(pid, bob, "Re: Kickoff", "Agreed.", to=(alice,), thread_id=str(first))
    flush_pending()
    text = digest.read_text()
    assert text.startswith(f"# Thread {first}\n")
    assert text.index("Let us start.") < text.index("Agreed.")
    assert "Eve" not in text
    assert f"[#{reply}](../2026/03/" in text
    seed.enqueue(pid, "message", reply)
    flush_pending()
    assert digest.read_text() == text  # no duplicated entries on replay
    archive.assert_clean()


def test_reservation_file(seed, archive):
    pid = seed.project()
    alice = seed.agent(pid, "Alice")
    flush_pending()
    rid = seed.reservation(pid, alice, "src/**/*.py")
    flush_pending()
    data = json.loads((archive.root / PROJECT / f"file_reservations/id-{rid}.json").read_text())
    assert data["agent"] == "Alice" and data["path_pattern"] == "src/**/*.py"
    assert data["exclusive"] is True and data["reason"] == "editing" and data["project"] == "/work/demo-repo"
    assert "released_ts" not in data and data["expires_ts"].endswith("+00:00")
    assert archive.subjects()[0] == "file_reservation: Alice src/**/*.py"
    assert not list((archive.root / PROJECT / "file_reservations").glob("[0-9a-f]*.json"))


def test_deleted_message_leaves_the_archive(seed, archive):
    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    first = seed.message(pid, alice, "One", to=(bob,))
    second = seed.message(pid, bob, "Two", to=(alice,), thread_id=str(first))
    flush_pending()
    assert (archive.root / PROJECT / f"messages/threads/{first}.md").exists()

    seed.delete_message(pid, second)
    flush_pending()
    assert not [p for p in archive.files() if p.endswith(f"__{second}.md")]
    assert not (archive.root / PROJECT / f"messages/threads/{first}.md").exists()
    assert [p for p in archive.files() if p.endswith(f"__{first}.md")]
    assert archive.subjects()[0] == f"mail: remove message {second}"
    archive.assert_clean()


async def test_profile_and_contacts_follow_activity_and_links(archive):
    async with Client(build_mcp_server()) as c:

        async def call(tool: str, **args):
            return (await c.call_tool(tool, args)).data

        await call("ensure_project", human_key="/work/contacts-demo")
        for name in ("BlueLake", "RedFox"):
            await call("register_agent", project_key="/work/contacts-demo", program="p", model="m", name=name)
        flush_pending()
        folder = "projects/work-contacts-demo/agents"
        assert json.loads((archive.root / folder / "RedFox/contacts.json").read_text()) == {"outgoing": []}

        requested = await call(
            "request_contact",
            project_key="/work/contacts-demo",
            from_agent="BlueLake",
            to_agent="RedFox",
            reason="review help",
        )
        assert flush_pending() > 0
        outgoing = json.loads((archive.root / folder / "BlueLake/contacts.json").read_text())["outgoing"]
        assert [(e["to"], e["to_project"], e["status"], e["reason"]) for e in outgoing] == [
            ("RedFox", "/work/contacts-demo", "pending", "review help")
        ]
        assert outgoing[0]["expires_ts"] == requested["expires_ts"]
        assert {"id", "created_ts", "updated_ts"} <= set(outgoing[0])

        await call(
            "respond_contact", project_key="/work/contacts-demo", to_agent="RedFox", from_agent="BlueLake", accept=False
        )
        flush_pending()
        outgoing = json.loads((archive.root / folder / "BlueLake/contacts.json").read_text())["outgoing"]
        assert [(e["status"], e["expires_ts"]) for e in outgoing] == [("blocked", None)]

        await call(
            "send_message",
            project_key="/work/contacts-demo",
            sender_name="RedFox",
            to=["BlueLake"],
            subject="Hi",
            body_md="hello",
        )
        flush_pending()
    agents = schema.agents
    async with get_session() as session:
        stored = (await session.execute(select(agents.c.last_active_ts).where(agents.c.name == "RedFox"))).scalar_one()
    profile = json.loads((archive.root / folder / "RedFox/profile.json").read_text())
    assert profile["last_active_ts"] == iso(stored)
    assert "agent: profile RedFox" in archive.git("log", "-1", "--format=%B")
    archive.assert_clean()
