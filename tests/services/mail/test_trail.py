"""Finding the archive commit that first recorded a message."""

from __future__ import annotations

from mail_kit import PROJECT

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.services.mail.inbox import mark_message_read
from mcp_agent_mail.services.mail.trail import message_commit


async def test_no_commit_before_the_archive_is_written(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Not yet")
    assert await message_commit(message_id) is None


async def test_the_first_commit_naming_the_message_is_found_even_after_later_ones(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Recorded")
    flush_pending()
    first = await message_commit(message_id)
    assert first is not None and len(first["sha"]) == 40 and first["short"] == first["sha"][:12]
    assert "Recorded" in first["summary"]
    await mark_message_read(PROJECT, "RedFox", message_id)
    await mailbox.send("RedFox", ["BlueLake"], "Later")
    flush_pending()
    assert (await message_commit(message_id)) == first
    assert await message_commit(99_999) is None
