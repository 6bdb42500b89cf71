"""A default reply to another agent reads what it checks in one statement, and answers as the separate lookups do."""

from __future__ import annotations

from typing import Any

import pytest
from mail_kit import OTHER, PROJECT, open_policy, reads_before_first_change, write_statements

from mcp_agent_mail.db import get_session
from mcp_agent_mail.errors import AgentMailError, ContactBlockedError
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.mail import recipients as rcpt
from mcp_agent_mail.services.mail.contacts import request_contact, respond_contact
from mcp_agent_mail.services.mail.messages import _default_to, reply_message, send_message, visible_message
from mcp_agent_mail.services.mail.reply_rows import read_reply


async def _fast(replier: str, message_id: int) -> Any:
    async with get_session() as session:
        rows = await read_reply(session, PROJECT, replier, message_id)
        if rows is None:
            return None
        try:
            found = rows.recipients()
        except AgentMailError as exc:
            return rows.original["id"], (exc.code, exc.message, exc.data)
        return rows.original["id"], (found.names("to"), found.kinds, found.links)


async def _separate(replier: str, message_id: int) -> Any:
    async with get_session() as session:
        [project, sender] = await _project_and_agent(session, replier)
        original = await visible_message(session, sender, message_id)
        lists: dict[rcpt.Kind, list[str]] = {"to": await _default_to(session, original, sender), "cc": [], "bcc": []}
        try:
            found = await rcpt.resolve(session, project, lists, sender_id=sender["id"])
        except AgentMailError as exc:
            return original["id"], (exc.code, exc.message, exc.data)
        return original["id"], (found.names("to"), found.kinds, found.links)


async def _project_and_agent(session: Any, name: str) -> list[Any]:
    from mcp_agent_mail.services.identity.project_agent import project_and_agent

    return list(await project_and_agent(session, PROJECT, name))


@pytest.mark.parametrize("case", ["plain", "linked", "retired author"])
async def test_a_default_reply_to_another_agent_reads_as_the_separate_lookups(mailbox, case):
    first = await mailbox.send("BlueLake", ["RedFox"], "Question")
    if case == "linked":
        await request_contact(PROJECT, "RedFox", "BlueLake")
        await respond_contact(PROJECT, "BlueLake", "RedFox", accept=True)
    if case == "retired author":
        await retire_agent(PROJECT, "BlueLake")
    fast = await _fast("RedFox", first)
    assert fast is not None
    assert fast == await _separate("RedFox", first)
    if case == "linked":
        assert [link["status"] for link in fast[1][2].values()] == ["approved"]
    if case == "retired author":
        assert fast[1][0] == "AGENT_RETIRED"


async def test_other_replies_take_the_separate_lookups(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "Question")
    assert await _fast("BlueLake", first) is None  # one's own message goes back to its recipients
    assert await _fast("GreenCastle", first) is None  # not visible to GreenCastle: NOT_FOUND comes from the lookups
    assert await _fast("Nobody", first) is None
    await open_policy(OTHER, "PurpleHill")
    await open_policy(PROJECT, "RedFox")
    foreign = await send_message(OTHER, "PurpleHill", [f"RedFox@{mailbox.slugs[PROJECT]}"], "Hello", "from afar")
    foreign_id = foreign["deliveries"][0]["payload"]["id"]
    assert await _fast("RedFox", foreign_id) is None  # the author lives in another project
    reply = await reply_message(PROJECT, foreign_id, "RedFox", "Hi back")
    assert reply["deliveries"][0]["payload"]["to"] == [f"PurpleHill@{mailbox.slugs[OTHER]}"]


async def test_a_reply_obeys_the_link_it_read_to_the_original_sender(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "Question")
    await request_contact(PROJECT, "RedFox", "BlueLake")
    await respond_contact(PROJECT, "BlueLake", "RedFox", accept=False)
    before = mailbox.snapshot()
    with pytest.raises(ContactBlockedError):
        await reply_message(PROJECT, first, "RedFox", "Answer.")
    assert mailbox.snapshot() == before


async def test_a_default_reply_reads_all_it_checks_in_one_statement_before_storing(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "Question")
    with write_statements() as sent:
        reply = await reply_message(PROJECT, first, "RedFox", "Answer.")
    assert reply["deliveries"][0]["payload"]["to"] == ["BlueLake"]
    assert len(reads_before_first_change(sent)) == 1
