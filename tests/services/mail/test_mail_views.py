"""Read-only mail views (services.mail.views): what each shows, bcc privacy, age filters, no writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dulwich.repo import Repo
from mail_kit import PROJECT, rows_of

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.mail.inbox import acknowledge_message, mark_message_read
from mcp_agent_mail.services.mail.messages import reply_message
from mcp_agent_mail.services.mail.views import (
    ack_overdue,
    ack_required,
    acks_stale,
    inbox_view,
    mailbox_view,
    message_view,
    outbox_view,
    thread_view,
    urgent_unread,
)
from mcp_agent_mail.timeutil import utcnow


async def test_the_sender_sees_bcc_in_its_outbox_and_recipients_never_do(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Plan", bcc=["GreenCastle"], body_md="secret plan")
    sent = await outbox_view(PROJECT, "BlueLake", limit=10, include_bodies=True, since_ts=None)
    [item] = sent["messages"]
    assert (sent["agent"], sent["count"]) == ("BlueLake", 1)
    assert (item["to"], item["bcc"], item["body_md"]) == (["RedFox"], ["GreenCastle"], "secret plan")

    project, red = await rows_of(PROJECT, "RedFox")
    shown = await message_view(project, red, message_id)
    assert shown["to"] == ["RedFox"] and "bcc" not in shown and shown["kind"] == "to"
    _, green = await rows_of(PROJECT, "GreenCastle")
    assert (await message_view(project, green, message_id))["kind"] == "bcc"  # its own kind, not the list
    assert "bcc" not in await message_view(project, green, message_id)


async def test_a_message_is_visible_only_to_its_sender_and_recipients(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Between us")
    await mark_message_read(PROJECT, "RedFox", message_id)
    project, red = await rows_of(PROJECT, "RedFox")
    assert "read_ts" in await message_view(project, red, message_id)
    _, green = await rows_of(PROJECT, "GreenCastle")
    with pytest.raises(NotFoundError):
        await message_view(project, green, message_id)


async def test_a_thread_shows_the_viewers_messages_oldest_first(mailbox):
    seed = await mailbox.send("BlueLake", ["RedFox"], "Question")
    await reply_message(PROJECT, seed, "RedFox", "Answer")
    aside = await reply_message(PROJECT, seed, "BlueLake", "Aside", to=["GreenCastle"])
    project, red = await rows_of(PROJECT, "RedFox")
    thread = await thread_view(project, red, str(seed), include_bodies=True, limit=50)
    assert thread["thread_id"] == str(seed) and thread["viewer"] == "RedFox"
    assert [m["subject"] for m in thread["messages"]] == ["Question", "Re: Question"]
    assert aside["reply_to"] == seed  # in the thread, but RedFox neither sent nor received it
    assert [m["body_md"] for m in thread["messages"]] == ["Body text.", "Answer"]
    with pytest.raises(InvalidArgumentError, match="thread_id is empty"):
        await thread_view(project, red, "  ", include_bodies=False, limit=5)


async def test_attention_views_filter_in_sql_before_the_limit(mailbox):
    urgent = await mailbox.send("BlueLake", ["RedFox"], "Fire", importance="urgent", ack_required=True)
    for n in range(3):
        await mailbox.send("BlueLake", ["RedFox"], f"Routine {n}")
    assert [m["id"] for m in (await urgent_unread(PROJECT, "RedFox", limit=1))["messages"]] == [urgent]
    assert [m["id"] for m in (await ack_required(PROJECT, "RedFox", limit=1))["messages"]] == [urgent]
    await mark_message_read(PROJECT, "RedFox", urgent)
    assert (await urgent_unread(PROJECT, "RedFox", limit=5))["count"] == 0
    assert (await ack_required(PROJECT, "RedFox", limit=5))["count"] == 1  # read is not acknowledged
    await acknowledge_message(PROJECT, "RedFox", urgent)
    assert (await ack_required(PROJECT, "RedFox", limit=5))["count"] == 0


async def test_overdue_acknowledgements_are_those_older_than_the_window(mailbox):
    old = await mailbox.send("BlueLake", ["RedFox"], "Old", ack_required=True)
    await mailbox.send("BlueLake", ["RedFox"], "Fresh", ack_required=True)
    mailbox.set_created(old, utcnow() - timedelta(hours=3))
    stale = await acks_stale(PROJECT, "RedFox", ttl_seconds=3600, limit=10)
    assert [m["id"] for m in stale["messages"]] == [old] and stale["ttl_seconds"] == 3600
    assert stale["messages"][0]["age_seconds"] >= 3 * 3600 - 5
    overdue = await ack_overdue(PROJECT, "RedFox", ttl_minutes=60, limit=10)
    assert [m["id"] for m in overdue["messages"]] == [old] and overdue["ttl_minutes"] == 60
    assert (await acks_stale(PROJECT, "RedFox", limit=10))["ttl_seconds"] == 1800  # ACK_TTL_SECONDS by default
    for bad in (0, -5, True):
        with pytest.raises(InvalidArgumentError, match="positive integer"):
            await ack_overdue(PROJECT, "RedFox", ttl_minutes=bad, limit=10)


async def test_views_write_nothing(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "Look only", importance="high", ack_required=True)
    before = mailbox.snapshot()
    await inbox_view(PROJECT, "RedFox", limit=5, urgent_only=False, include_bodies=True, since_ts=None)
    await urgent_unread(PROJECT, "RedFox", limit=5)
    await acks_stale(PROJECT, "RedFox", ttl_seconds=1, limit=5)
    await mailbox_view(PROJECT, "RedFox", limit=5, with_commits=False)
    assert mailbox.snapshot() == before
    assert mailbox.count("message_recipients", "read_ts IS NOT NULL OR ack_ts IS NOT NULL") == 0


async def test_the_mailbox_view_names_the_archive_commit_that_added_each_message(mailbox):
    archived = await mailbox.send("BlueLake", ["RedFox"], "Archived")
    flush_pending()
    repo = Repo(get_settings().storage.root)
    try:
        head = repo.head().decode()
    finally:
        repo.close()
    pending = await mailbox.send("BlueLake", ["RedFox"], "Not yet archived")
    view = await mailbox_view(PROJECT, "RedFox", limit=10, with_commits=True)
    by_id = {m["id"]: m for m in view["messages"]}
    assert by_id[archived]["commit"]["hexsha"] == head[:12]
    assert "commit" not in by_id[pending]
