"""The inbox: received mail newest first with its filters, and read/acknowledgement receipts recorded once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mail_kit import OTHER, PROJECT, open_policy

from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError, ProjectArchivedError
from mcp_agent_mail.services.identity.lifecycle import archive_project
from mcp_agent_mail.services.mail.inbox import acknowledge_message, fetch_inbox, mark_message_read
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.timeutil import iso, utcnow


async def test_received_mail_comes_newest_first_and_fetching_marks_nothing_read(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "First", body_md="one")
    second = await mailbox.send("GreenCastle", ["GreenCastle"], "To self")
    third = await mailbox.send("GreenCastle", [], "Copy", cc=["RedFox"], importance="urgent")
    items = await fetch_inbox(PROJECT, "RedFox")
    assert [item["id"] for item in items] == [third, first]
    assert items[0]["kind"] == "cc" and items[0]["from"] == "GreenCastle" and "body_md" not in items[0]
    assert "read_ts" not in items[0]
    assert second not in {item["id"] for item in items}
    assert mailbox.count("message_recipients", "read_ts IS NOT NULL") == 0

    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", limit=1)] == [third]
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", urgent_only=True)] == [third]
    with_bodies = await fetch_inbox(PROJECT, "RedFox", include_bodies=True)
    assert with_bodies[1]["body_md"] == "one"


async def test_since_keeps_only_newer_mail_and_must_be_a_timestamp(mailbox):
    old = await mailbox.send("BlueLake", ["RedFox"], "Old")
    new = await mailbox.send("BlueLake", ["RedFox"], "New")
    mailbox.set_created(old, utcnow() - timedelta(hours=2))
    since = iso(utcnow() - timedelta(hours=1))
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", since_ts=since)] == [new]
    assert len(await fetch_inbox(PROJECT, "RedFox", since_ts="  ")) == 2
    with pytest.raises(InvalidArgumentError) as caught:
        await fetch_inbox(PROJECT, "RedFox", since_ts="yesterday")
    assert "since_ts" in caught.value.message


async def test_mail_from_another_project_names_its_sender_with_the_slug(mailbox):
    await open_policy(PROJECT, "RedFox")
    await send_message(OTHER, "PurpleHill", [f"RedFox@{mailbox.slugs[PROJECT]}"], "Hi from afar", "x")
    [item] = await fetch_inbox(PROJECT, "RedFox")
    assert item["from"] == f"PurpleHill@{mailbox.slugs[OTHER]}"


async def test_a_read_receipt_is_recorded_once_and_queued_once(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Read me")
    queued = mailbox.count("archive_outbox", "kind = 'receipt'")
    first = await mark_message_read(PROJECT, "RedFox", message_id)
    again = await mark_message_read(PROJECT, "RedFox", message_id)
    assert first == again and first["read"] is True and first["message_id"] == message_id
    assert mailbox.count("archive_outbox", "kind = 'receipt'") == queued + 1
    [(read_ts, ack_ts)] = mailbox.rows(
        "SELECT read_ts, ack_ts FROM message_recipients WHERE message_id = :id", id=message_id
    )
    assert read_ts is not None and ack_ts is None
    [item] = await fetch_inbox(PROJECT, "RedFox")
    assert item["read_ts"] == first["read_at"]


async def test_acknowledging_also_reads_keeps_the_first_read_time_and_is_idempotent(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Ack me", ack_required=True)
    read = await mark_message_read(PROJECT, "RedFox", message_id)
    ack = await acknowledge_message(PROJECT, "RedFox", message_id)
    assert ack["acknowledged"] is True and ack["read_at"] == read["read_at"]
    assert await acknowledge_message(PROJECT, "RedFox", message_id) == ack
    assert mailbox.count("message_recipients", "message_id = :id AND ack_ts IS NOT NULL", id=message_id) == 1


async def test_only_a_recipient_can_mark_a_message_and_a_refusal_changes_nothing(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Private")
    before = mailbox.snapshot()
    with pytest.raises(NotFoundError, match="not in the inbox of GreenCastle"):
        await mark_message_read(PROJECT, "GreenCastle", message_id)
    with pytest.raises(NotFoundError):
        await acknowledge_message(PROJECT, "BlueLake", message_id)  # the sender is not a recipient
    with pytest.raises(NotFoundError):
        await mark_message_read(PROJECT, "RedFox", message_id + 1000)
    assert mailbox.snapshot() == before
    assert mailbox.count("message_recipients", "read_ts IS NOT NULL") == 0

    await archive_project(PROJECT)
    with pytest.raises(ProjectArchivedError):
        await mark_message_read(PROJECT, "RedFox", message_id)
    assert mailbox.count("message_recipients", "read_ts IS NOT NULL") == 0


async def test_a_page_of_a_long_inbox_is_its_newest_mail_with_each_receipt(mailbox):
    ids = [await mailbox.send("BlueLake", ["RedFox"] if i % 3 else [], f"m{i}", cc=[] if i % 3 else ["RedFox"])
           for i in range(25)]  # fmt: skip
    for message_id in ids[-6::2]:  # ids[19], ids[21] and ids[23]
        await mark_message_read(PROJECT, "RedFox", message_id)
    page = await fetch_inbox(PROJECT, "RedFox", limit=5)
    assert [item["id"] for item in page] == ids[::-1][:5]
    assert [item["kind"] for item in page] == ["to" if (24 - i) % 3 else "cc" for i in range(5)]
    assert ["read_ts" in item for item in page] == [False, True, False, True, False]
    unread = await fetch_inbox(PROJECT, "RedFox", limit=5, unread_only=True)
    assert [item["id"] for item in unread] == [ids[24], ids[22], ids[20], ids[18], ids[17]]
