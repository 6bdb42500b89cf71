"""Acknowledgements a project still waits for (services.mail.ack_board): thresholds, paging, no bcc, no writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mail_kit import PROJECT

from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.mail.ack_board import waiting_acks
from mcp_agent_mail.services.mail.inbox import acknowledge_message, mark_message_read
from mcp_agent_mail.timeutil import utcnow


async def _aged(mailbox, subject, minutes, **extra):
    message_id = await mailbox.send("BlueLake", ["RedFox"], subject, ack_required=True, **extra)
    mailbox.set_created(message_id, utcnow() - timedelta(minutes=minutes))
    return message_id


async def test_stale_uses_the_ack_ttl_and_lists_oldest_first(mailbox):
    old = await _aged(mailbox, "Old", 120)
    older = await _aged(mailbox, "Older", 300)
    await _aged(mailbox, "Fresh", 1)
    board = await waiting_acks(PROJECT, state="stale")
    assert [i["message_id"] for i in board.items] == [older, old]
    assert board.threshold_seconds == 1800 and board.total == 2
    first = board.items[0]
    assert (first["recipient"], first["from"], first["kind"], first["read_ts"]) == ("RedFox", "BlueLake", "to", None)
    assert first["age_seconds"] >= 300 * 60


async def test_overdue_takes_its_own_minutes_and_all_lists_everything(mailbox):
    await _aged(mailbox, "Ten minutes", 10)
    await _aged(mailbox, "Two", 2)
    assert [i["subject"] for i in (await waiting_acks(PROJECT, state="overdue", ttl_minutes=5)).items] == [
        "Ten minutes"
    ]
    assert (await waiting_acks(PROJECT, state="overdue")).items == []  # 60 minutes by default
    assert len((await waiting_acks(PROJECT, state="all")).items) == 2


async def test_acknowledged_and_read_show_as_such(mailbox):
    done = await _aged(mailbox, "Done", 90)
    seen = await _aged(mailbox, "Seen", 90)
    await acknowledge_message(PROJECT, "RedFox", done)
    await mark_message_read(PROJECT, "RedFox", seen)
    [item] = (await waiting_acks(PROJECT)).items
    assert item["message_id"] == seen and item["read_ts"]


async def test_blind_copies_are_never_listed(mailbox):
    await _aged(mailbox, "Hidden copy", 90, bcc=["GreenCastle"])
    assert [i["recipient"] for i in (await waiting_acks(PROJECT)).items] == ["RedFox"]


async def test_pages(mailbox):
    for n in range(3):
        await _aged(mailbox, f"M{n}", 100 - n)
    first = await waiting_acks(PROJECT, page_size=2)
    second = await waiting_acks(PROJECT, page=2, page_size=2)
    assert (len(first.items), first.has_next, len(second.items), second.has_next) == (2, True, 1, False)


async def test_refusals(mailbox):
    for kwargs in ({"state": "bogus"}, {"state": "overdue", "ttl_minutes": 0}, {"page": 0}, {"page_size": 10_000}):
        with pytest.raises(InvalidArgumentError):
            await waiting_acks(PROJECT, **kwargs)
    with pytest.raises(NotFoundError):
        await waiting_acks("missing-project")


async def test_reading_changes_nothing(mailbox):
    await _aged(mailbox, "Old", 120)
    before = mailbox.rows("SELECT * FROM message_recipients ORDER BY message_id, agent_id")
    await waiting_acks(PROJECT, state="all")
    assert mailbox.rows("SELECT * FROM message_recipients ORDER BY message_id, agent_id") == before
