"""Sending and replying: validation of each field, what is stored and queued, and refusals that store nothing."""

from __future__ import annotations

import pytest
from mail_kit import OTHER, PROJECT, open_policy, reads_before_first_change, write_statements

from mcp_agent_mail.errors import (
    AgentRetiredError,
    InvalidArgumentError,
    NotFoundError,
    ProjectArchivedError,
)
from mcp_agent_mail.services.identity.agents import set_contact_policy
from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent
from mcp_agent_mail.services.mail.drafts import (
    BODY_MAX_BYTES,
    SUBJECT_MAX,
    check_body,
    check_importance,
    check_subject,
    check_thread_id,
    check_topic,
)
from mcp_agent_mail.services.mail.messages import reply_message, reply_subject, send_message

# ---------------------------------------------------------------------------- field checks


@pytest.mark.parametrize(("given", "stored"), [("normal", "normal"), (" URGENT ", "urgent"), ("Low", "low")])
def test_importance_is_one_of_four_levels_in_lowercase(given, stored):
    assert check_importance(given) == stored


@pytest.mark.parametrize("given", ["", "critical", None, 3])
def test_any_other_importance_is_invalid(given):
    with pytest.raises(InvalidArgumentError) as caught:
        check_importance(given)
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.hint


def test_a_long_subject_is_cut_with_a_notice_and_an_empty_one_refused():
    notices: list[str] = []
    assert check_subject("  Plan  ", notices) == "Plan" and notices == []
    cut = check_subject("x" * (SUBJECT_MAX + 50), notices)
    assert len(cut) == SUBJECT_MAX
    assert notices == [f"subject was {SUBJECT_MAX + 50} characters and was cut to {SUBJECT_MAX}."]
    with pytest.raises(InvalidArgumentError, match="subject is empty"):
        check_subject("   ", [])


def test_the_body_may_be_one_mebibyte_and_not_a_byte_more():
    assert check_body("é" * (BODY_MAX_BYTES // 2)) == "é" * (BODY_MAX_BYTES // 2)
    with pytest.raises(InvalidArgumentError, match=f"{BODY_MAX_BYTES + 1} bytes"):
        check_body("a" * (BODY_MAX_BYTES + 1))
    with pytest.raises(InvalidArgumentError, match="must be a string"):
        check_body(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("given", "kept"), [(None, None), ("  ", None), (" FEAT-12 ", "FEAT-12"), ("42", "42")])
def test_thread_ids_are_trimmed_and_blank_means_none(given, kept):
    assert check_thread_id(given) == kept


@pytest.mark.parametrize("given", ["-leading-dash", "has space", "a/b", "x" * 129])
def test_thread_ids_with_other_characters_are_invalid(given):
    with pytest.raises(InvalidArgumentError) as caught:
        check_thread_id(given)
    assert "FEAT-123" in (caught.value.hint or "")


def test_topics_are_short_words():
    assert check_topic(" build-status ") == "build-status"
    assert check_topic("") is None
    with pytest.raises(InvalidArgumentError):
        check_topic("build status")


@pytest.mark.parametrize(
    ("original", "prefix", "subject"),
    [
        ("Plan", "Re:", "Re: Plan"),
        ("Re: Plan", "Re:", "Re: Plan"),
        ("re: Plan", "RE:", "re: Plan"),
        ("Plan", " ", "Plan"),
    ],
)
def test_reply_subject_is_prefixed_once(original, prefix, subject):
    assert reply_subject(original, prefix) == subject


# ---------------------------------------------------------------------------- sending


async def test_a_sent_message_is_stored_with_one_row_per_recipient_and_queued_for_the_archive(mailbox):
    result = await send_message(
        PROJECT,
        "BlueLake",
        ["RedFox"],
        "Schema change",
        "Please review.",
        cc=["GreenCastle", "RedFox"],
        bcc=["greencastle"],
        importance="HIGH",
        thread_id="FEAT-1",
        topic="db",
    )
    payload = result["deliveries"][0]["payload"]
    assert result["count"] == 1 and result["deliveries"][0]["project"] == PROJECT
    assert (payload["to"], payload["cc"], payload["bcc"]) == (["RedFox"], ["GreenCastle"], [])
    assert (payload["importance"], payload["thread_id"], payload["topic"]) == ("high", "FEAT-1", "db")
    assert payload["created_ts"].endswith("+00:00")

    message_id = payload["id"]
    assert mailbox.rows("SELECT subject, body_md, importance FROM messages WHERE id = :id", id=message_id) == [
        ("Schema change", "Please review.", "high")
    ]
    kinds = mailbox.rows(
        "SELECT a.name, r.kind FROM message_recipients r JOIN agents a ON a.id = r.agent_id "
        "WHERE r.message_id = :id ORDER BY a.name",
        id=message_id,
    )
    assert kinds == [("GreenCastle", "cc"), ("RedFox", "to")]  # each agent once, under its strongest kind
    assert mailbox.count("archive_outbox", "kind = 'message' AND ref = :ref", ref=str(message_id)) == 1


async def test_a_send_touches_the_sender_and_queues_its_profile_then_the_message(mailbox):
    result = await send_message(PROJECT, "BlueLake", ["RedFox", "GreenCastle"], "Touch", "x", ack_required=True)
    message_id = result["deliveries"][0]["payload"]["id"]
    sender = mailbox.agent_id("BlueLake")

    (created, ack_required, attachments), *_ = mailbox.rows(
        "SELECT created_ts, ack_required, attachments FROM messages WHERE id = :id", id=message_id
    )
    (touched,) = mailbox.rows("SELECT last_active_ts FROM agents WHERE id = :id", id=sender)[0]
    assert str(touched)[:19] == str(created)[:19]
    assert bool(ack_required) is True and attachments in ([], "[]")
    assert mailbox.count("message_recipients", "message_id = :id", id=message_id) == 2
    newest = mailbox.rows("SELECT kind, ref FROM archive_outbox ORDER BY id DESC LIMIT 2")
    assert newest[::-1] == [("agent", str(sender)), ("message", str(message_id))]


async def test_an_unknown_recipient_refuses_the_whole_send_and_stores_nothing(mailbox):
    before = mailbox.snapshot()
    with pytest.raises(NotFoundError) as caught:
        await send_message(PROJECT, "BlueLake", ["RedFox", "RedFix"], "Hi", "x")
    assert "RedFix" in caught.value.message and "RedFox" in (caught.value.hint or "")
    assert mailbox.snapshot() == before


async def test_a_retired_sender_or_an_archived_project_sends_nothing(mailbox):
    await retire_agent(PROJECT, "GreenCastle")
    before = mailbox.snapshot()
    with pytest.raises(AgentRetiredError):
        await send_message(PROJECT, "GreenCastle", ["RedFox"], "Hi", "x")
    with pytest.raises(AgentRetiredError):
        await send_message(PROJECT, "BlueLake", ["GreenCastle"], "Hi", "x")
    await archive_project(PROJECT)
    with pytest.raises(ProjectArchivedError):
        await send_message(PROJECT, "BlueLake", ["RedFox"], "Hi", "x")
    assert mailbox.snapshot()["messages"] == before["messages"]
    assert mailbox.snapshot()["message_recipients"] == before["message_recipients"]


async def test_a_broadcast_reaches_every_active_agent_that_accepts_mail(mailbox):
    await set_contact_policy(PROJECT, "GreenCastle", "block_all")
    result = await send_message(PROJECT, "BlueLake", [], "Standup", "In 5 minutes.", broadcast=True)
    payload = result["deliveries"][0]["payload"]
    assert payload["to"] == ["RedFox"]  # not the sender, not the agent blocking all mail, not another project
    with pytest.raises(InvalidArgumentError, match="to must be empty"):
        await send_message(PROJECT, "BlueLake", ["RedFox"], "Standup", "x", broadcast=True)
    assert mailbox.count("messages") == 1


async def test_a_reply_joins_the_thread_of_the_original_and_goes_back_to_its_sender(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "Question", importance="urgent", ack_required=True)
    reply = await reply_message(PROJECT, first, "RedFox", "Answer.")
    payload = reply["deliveries"][0]["payload"]
    assert reply["thread_id"] == str(first) and reply["reply_to"] == first
    assert payload["subject"] == "Re: Question" and payload["to"] == ["BlueLake"]
    assert (payload["importance"], payload["ack_required"]) == ("urgent", True)  # inherited from the original

    # Replying to your own message addresses the original recipients again.
    again = await reply_message(PROJECT, first, "BlueLake", "Any news?")
    assert again["deliveries"][0]["payload"]["to"] == ["RedFox"]
    assert again["deliveries"][0]["payload"]["subject"] == "Re: Question"
    assert mailbox.rows("SELECT DISTINCT thread_id FROM messages WHERE id != :id", id=first) == [(str(first),)]


async def test_only_senders_and_recipients_may_reply(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "Private")
    before = mailbox.snapshot()
    with pytest.raises(NotFoundError, match="not visible to GreenCastle"):
        await reply_message(PROJECT, first, "GreenCastle", "Me too")
    with pytest.raises(InvalidArgumentError, match="no recipients"):
        await reply_message(PROJECT, first, "RedFox", "x", to=[])
    assert mailbox.snapshot() == before


async def test_mail_to_another_project_needs_the_explicit_address(mailbox):
    await open_policy(OTHER, "PurpleHill")
    with pytest.raises(NotFoundError):
        await send_message(PROJECT, "BlueLake", ["PurpleHill"], "Hi", "x")
    slug = mailbox.slugs[OTHER]
    result = await send_message(PROJECT, "BlueLake", [f"PurpleHill@{slug}"], "Hi", "x")
    assert result["deliveries"][0]["payload"]["to"] == [f"PurpleHill@{slug}"]
    assert mailbox.count("message_recipients", "agent_id = :agent", agent=mailbox.agent_id("PurpleHill")) == 1


async def test_a_send_within_its_project_reads_all_it_checks_in_one_statement_before_storing(mailbox):
    with write_statements() as sent:
        await send_message(PROJECT, "BlueLake", ["RedFox", "GreenCastle"], "Hi", "x")
    assert len(reads_before_first_change(sent)) == 1  # project, sender, recipients and links together
