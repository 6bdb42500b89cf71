"""Mail as the overseer browses it: the unified inbox, a project's threads, an agent's boxes, one message."""

from __future__ import annotations

import pytest
from mail_kit import OTHER, PROJECT, Mailbox, open_policy

from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.overview import Page
from mcp_agent_mail.services.mail.browse import (
    InboxFilters,
    agent_box,
    message_detail,
    project_threads,
    thread_detail,
    unified_inbox,
)
from mcp_agent_mail.services.mail.inbox import acknowledge_message, mark_message_read
from mcp_agent_mail.services.mail.messages import send_message

ALL = Page(1, 50)


@pytest.fixture
async def sent(mailbox: Mailbox) -> dict[str, int]:
    """Four messages: a thread of two, an urgent one needing an ack with a cc, one with a bcc; one elsewhere."""
    ids = {"plan": await mailbox.send("BlueLake", ["RedFox"], "Plan", body_md="# Plan\n\n**bold** `x`")}
    ids["reply"] = await mailbox.send("RedFox", ["BlueLake"], "Re: Plan", thread_id=str(ids["plan"]))
    ids["urgent"] = await mailbox.send(
        "BlueLake", ["RedFox"], "Urgent", cc=["GreenCastle"], importance="urgent", ack_required=True
    )
    ids["quiet"] = await mailbox.send("GreenCastle", ["RedFox"], "Quiet", bcc=["BlueLake"])
    await open_policy(OTHER, "PurpleHill")
    result = await send_message(OTHER, "PurpleHill", ["PurpleHill"], "Elsewhere", "z")
    ids["elsewhere"] = int(result["deliveries"][0]["payload"]["id"])
    return ids


def subjects(view: dict) -> list[str]:
    """Return the listed subjects in order."""
    return [item["subject"] for item in view["messages"]]


async def test_the_unified_inbox_is_newest_first_across_projects(sent):
    view = await unified_inbox(InboxFilters(), ALL)
    assert subjects(view) == ["Elsewhere", "Quiet", "Urgent", "Re: Plan", "Plan"]
    quiet = view["messages"][1]
    assert quiet["to"] == ["RedFox"] and quiet["bcc_count"] == 1 and "BlueLake" not in quiet["cc"]
    plan = view["messages"][-1]
    assert plan["excerpt"] == "Plan bold x" and plan["thread_key"] == str(sent["plan"])


async def test_unified_inbox_filters(mailbox, sent):
    assert subjects(await unified_inbox(InboxFilters(importance="URGENT"), ALL)) == ["Urgent"]
    assert subjects(await unified_inbox(InboxFilters(ack=True), ALL)) == ["Urgent"]
    assert subjects(await unified_inbox(InboxFilters(sender="green-castle"), ALL)) == ["Quiet"]
    assert subjects(await unified_inbox(InboxFilters(project=mailbox.slugs[OTHER]), ALL)) == ["Elsewhere"]
    await acknowledge_message(PROJECT, "RedFox", sent["urgent"])
    assert subjects(await unified_inbox(InboxFilters(ack=True), ALL)) == ["Urgent"]  # the cc has not acked yet
    await acknowledge_message(PROJECT, "GreenCastle", sent["urgent"])
    assert subjects(await unified_inbox(InboxFilters(ack=True), ALL)) == []
    await mark_message_read(PROJECT, "RedFox", sent["plan"])
    assert "Plan" not in subjects(await unified_inbox(InboxFilters(unread=True), ALL))


async def test_the_unified_inbox_pages_and_answers_after(sent):
    first = await unified_inbox(InboxFilters(), Page(1, 2))
    third = await unified_inbox(InboxFilters(), Page(3, 2))
    assert first["has_more"] is True and subjects(first) == ["Elsewhere", "Quiet"]
    assert third["has_more"] is False and subjects(third) == ["Plan"]
    newer = await unified_inbox(InboxFilters(), ALL, after=sent["urgent"])
    assert subjects(newer) == ["Elsewhere", "Quiet"]


async def test_unified_inbox_refuses_bad_filters(sent):
    with pytest.raises(InvalidArgumentError):
        await unified_inbox(InboxFilters(importance="loud"), ALL)
    with pytest.raises(InvalidArgumentError):
        await unified_inbox(InboxFilters(), ALL, after=-1)
    with pytest.raises(NotFoundError):
        await unified_inbox(InboxFilters(project="nowhere"), ALL)


async def test_project_threads_group_replies_most_recent_first(mailbox, sent):
    view = await project_threads(mailbox.slugs[PROJECT], ALL)
    assert [(t["subject"], t["message_count"]) for t in view["threads"]] == [
        ("Quiet", 1),
        ("Urgent", 1),
        ("Plan", 2),
    ]
    assert view["threads"][-1]["thread_key"] == str(sent["plan"])


async def test_agent_boxes_show_receipts_and_recipients(mailbox, sent):
    await mark_message_read(PROJECT, "RedFox", sent["plan"])
    inbox = await agent_box(PROJECT, "redfox", "inbox", ALL)
    assert inbox["agent"]["name"] == "RedFox" and inbox["unread_count"] == 2
    by_subject = {item["subject"]: item for item in inbox["messages"]}
    assert by_subject["Plan"]["read_ts"] is not None and by_subject["Urgent"]["read_ts"] is None
    assert by_subject["Urgent"]["kind"] == "to"
    outbox = await agent_box(PROJECT, "GreenCastle", "outbox", ALL)
    [quiet] = outbox["messages"]
    assert quiet["recipient_count"] == 2 and quiet["bcc_count"] == 1 and quiet["unread_count"] == 2
    with pytest.raises(NotFoundError):
        await agent_box(PROJECT, "NoSuchAgent", "inbox", ALL)
    with pytest.raises(InvalidArgumentError):
        await agent_box(PROJECT, "RedFox", "drafts", ALL)


async def test_message_detail_shows_receipts_thread_and_hides_bcc_names(mailbox, sent):
    detail = await message_detail(mailbox.slugs[PROJECT], sent["reply"])
    assert detail["body_md"] == "Body text."
    assert [t["subject"] for t in detail["thread"]] == ["Plan", "Re: Plan"]
    quiet = await message_detail(PROJECT, sent["quiet"])
    assert quiet["bcc_count"] == 1
    assert [(r["kind"], r["name"]) for r in quiet["receipts"]] == [("to", "RedFox")]
    with pytest.raises(NotFoundError):
        await message_detail(PROJECT, sent["elsewhere"])
    with pytest.raises(NotFoundError):
        await message_detail(PROJECT, 10_000)


async def test_thread_detail_is_oldest_first_and_paged(mailbox, sent):
    view = await thread_detail(PROJECT, str(sent["plan"]), ALL)
    assert subjects(view) == ["Plan", "Re: Plan"] and view["subject"] == "Plan"
    second = await thread_detail(PROJECT, str(sent["plan"]), Page(2, 1))
    assert subjects(second) == ["Re: Plan"] and second["has_more"] is False
    with pytest.raises(NotFoundError):
        await thread_detail(PROJECT, "no-such-thread", ALL)
