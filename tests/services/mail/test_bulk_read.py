"""Marking many messages read for one recipient: counts, idempotence, archive receipts, refusals."""

from __future__ import annotations

import pytest
from mail_kit import PROJECT, Mailbox

from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.lifecycle import archive_project
from mcp_agent_mail.services.mail.bulk_read import MAX_IDS, check_ids, mark_all_read, mark_read


def unread(mailbox: Mailbox, name: str) -> int:
    """Return how many messages the agent has not read."""
    return mailbox.count("message_recipients", "agent_id = :agent AND read_ts IS NULL", agent=mailbox.agent_id(name))


async def test_mark_read_counts_what_changed_and_touches_no_one_else(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox", "GreenCastle"], "One")
    second = await mailbox.send("BlueLake", ["RedFox"], "Two")
    receipts_before = mailbox.count("archive_outbox", "kind = 'receipt'")
    result = await mark_read(PROJECT, "redfox", [first, second, first])
    assert result == {"project": mailbox.slugs[PROJECT], "agent": "RedFox", "marked": 2}
    assert unread(mailbox, "RedFox") == 0 and unread(mailbox, "GreenCastle") == 1
    assert mailbox.count("archive_outbox", "kind = 'receipt'") == receipts_before + 2
    again = await mark_read(PROJECT, "RedFox", [first])
    assert again["marked"] == 0


async def test_mark_read_ignores_messages_the_agent_did_not_receive(mailbox):
    mine = await mailbox.send("BlueLake", ["RedFox"], "Mine")
    theirs = await mailbox.send("BlueLake", ["GreenCastle"], "Theirs")
    assert (await mark_read(PROJECT, "RedFox", [mine, theirs, 99_999]))["marked"] == 1
    assert unread(mailbox, "GreenCastle") == 1


async def test_mark_all_read_marks_every_unread_message(mailbox):
    for n in range(3):
        await mailbox.send("BlueLake", ["RedFox"], f"N{n}")
    assert (await mark_all_read(PROJECT, "RedFox"))["marked"] == 3
    assert (await mark_all_read(PROJECT, "RedFox"))["marked"] == 0


@pytest.mark.parametrize("ids", [[], list(range(1, MAX_IDS + 2))])
def test_check_ids_refuses_none_or_too_many(ids):
    with pytest.raises(InvalidArgumentError):
        check_ids(ids)


async def test_unknown_agents_and_archived_projects_change_nothing(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "One")
    with pytest.raises(NotFoundError):
        await mark_all_read(PROJECT, "NoSuchAgent")
    await archive_project(PROJECT)
    before = mailbox.snapshot()
    with pytest.raises(AgentMailError):
        await mark_all_read(PROJECT, "RedFox")
    assert mailbox.snapshot() == before and unread(mailbox, "RedFox") == 1
