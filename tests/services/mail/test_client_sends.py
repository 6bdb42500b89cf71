"""Exactly-once sends (services.mail.client_sends): a retried client_msg_id returns the first result and stores
nothing; the same id for another message is refused; and fetch_inbox's unread_only filter."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mail_kit import OTHER, PROJECT, Mailbox, open_policy
from sqlalchemy import inspect

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import ContactRequiredError, InvalidArgumentError
from mcp_agent_mail.services.identity.hard_delete import hard_delete_agent, hard_delete_project, purge_old_messages
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.mail.client_sends import CLIENT_MSG_ID_MAX, check_client_msg_id
from mcp_agent_mail.services.mail.deletion import delete_messages
from mcp_agent_mail.services.mail.inbox import fetch_inbox, mark_message_read
from mcp_agent_mail.services.mail.messages import reply_message, send_message
from mcp_agent_mail.services.recovery.restore import execute_restore, plan_restore
from mcp_agent_mail.services.recovery.restore_points import save_restore_point
from mcp_agent_mail.services.recovery.zipsafe import verify_restore_point
from mcp_agent_mail.timeutil import iso, utcnow

STORED = ("messages", "message_recipients", "archive_outbox", "attachment_blobs", "client_sends")


def stored(mailbox: Mailbox) -> dict[str, int]:
    """Row counts of every table a send adds to."""
    return {table: mailbox.count(table) for table in STORED}


async def send(key: str = "job-1", **changes: Any) -> dict[str, Any]:
    """BlueLake writes to RedFox with ``client_msg_id=key`` (fields overridable)."""
    fields: dict[str, Any] = {"to": ["RedFox"], "subject": "Build is green", "body_md": "All **tests** pass."}
    fields.update(changes)
    to, subject, body = fields.pop("to"), fields.pop("subject"), fields.pop("body_md")
    return await send_message(PROJECT, fields.pop("sender", "BlueLake"), to, subject, body, client_msg_id=key, **fields)


def message_id(result: dict[str, Any]) -> int:
    """The id of the message a send stored."""
    return int(result["deliveries"][0]["payload"]["id"])


# ---------------------------------------------------------------------------- the id itself


@pytest.mark.parametrize("given", [None, ""])
def test_no_id_means_an_ordinary_send(given):
    assert check_client_msg_id(given) is None


@pytest.mark.parametrize(
    "given", ["job-1", "0b7e5f1c-9a4e-4f55-a3a7-2f1f3e0a9c11", "build:42.attempt_1", "x" * CLIENT_MSG_ID_MAX]
)
def test_ids_of_letters_digits_and_a_few_marks_are_accepted(given):
    assert check_client_msg_id(given) == given


@pytest.mark.parametrize("given", [" job", "job 1", "-job", "jöb", "a/b", "x" * (CLIENT_MSG_ID_MAX + 1), 7, ["a"]])
async def test_a_malformed_id_is_refused_with_a_hint_and_sends_nothing(mailbox, given):
    before = stored(mailbox)
    with pytest.raises(InvalidArgumentError) as caught:
        await send(given)
    assert caught.value.code == "INVALID_ARGUMENT" and "client_msg_id" in caught.value.message
    assert "UUID" in caught.value.hint
    assert stored(mailbox) == before


# ---------------------------------------------------------------------------- retries


async def test_a_retry_returns_the_first_result_and_stores_nothing_new(mailbox):
    first = await send()
    after_first = stored(mailbox)
    assert after_first["client_sends"] == 1
    again = await send()
    assert again == first
    assert again["deliveries"][0]["payload"]["body_md"] == "All **tests** pass."
    assert stored(mailbox) == after_first
    inbox = await fetch_inbox(PROJECT, "RedFox")
    assert [item["id"] for item in inbox] == [message_id(first)]


async def test_the_same_request_written_differently_is_the_same_send(mailbox):
    first = await send(to=["RedFox", "GreenCastle"], importance="high")
    again = await send(to=[" greencastle", "REDFOX", "RedFox"], importance=" HIGH ")
    assert again == first
    assert mailbox.count("messages") == 1


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Build is red"},
        {"body_md": "Two tests fail."},
        {"to": ["GreenCastle"]},
        {"cc": ["GreenCastle"]},
        {"importance": "urgent"},
        {"ack_required": True},
        {"thread_id": "BUILD-7"},
        {"topic": "ci"},
    ],
)
async def test_the_same_id_for_another_message_is_refused_and_stores_nothing(mailbox, change):
    first = await send()
    before = stored(mailbox)
    with pytest.raises(InvalidArgumentError) as caught:
        await send(**change)
    message = caught.value.message
    assert "'job-1'" in message and "different message" in message and str(message_id(first)) in message
    assert "new message its own client_msg_id" in caught.value.hint
    assert stored(mailbox) == before


async def test_ids_belong_to_their_sender(mailbox):
    await open_policy(PROJECT, "RedFox")
    mine = await send()
    theirs = await send(sender="GreenCastle")
    assert message_id(mine) != message_id(theirs)
    assert mailbox.count("messages") == 2 and mailbox.count("client_sends") == 2
    assert await send() == mine and await send(sender="GreenCastle") == theirs


async def test_concurrent_retries_store_one_message_and_all_get_its_id(mailbox):
    results = await asyncio.gather(*(send() for _ in range(12)))
    assert {message_id(result) for result in results} == {message_id(results[0])}
    assert all(result == results[0] for result in results)
    assert mailbox.count("messages") == 1 and mailbox.count("client_sends") == 1
    assert mailbox.count("archive_outbox", "kind = 'message'") == 1


async def test_a_retry_after_the_sender_was_retired_still_gets_its_result(mailbox):
    first = await send()
    await retire_agent(PROJECT, "BlueLake")
    assert await send() == first


async def test_a_send_without_an_id_is_never_deduplicated(mailbox):
    one = await send_message(PROJECT, "BlueLake", ["RedFox"], "Same", "same")
    two = await send_message(PROJECT, "BlueLake", ["RedFox"], "Same", "same")
    assert message_id(one) != message_id(two) and mailbox.count("client_sends") == 0


async def test_a_refused_send_records_nothing_and_its_retry_is_judged_afresh(mailbox):
    elsewhere = f"PurpleHill@{mailbox.slugs[OTHER]}"
    with pytest.raises(ContactRequiredError):
        await send(to=[elsewhere])
    assert mailbox.count("client_sends") == 0 and mailbox.count("messages") == 0
    await open_policy(OTHER, "PurpleHill")
    sent = await send(to=[elsewhere])
    assert sent["deliveries"][0]["payload"]["to"] == [elsewhere] and mailbox.count("client_sends") == 1


# ---------------------------------------------------------------------------- replies


async def test_a_retried_reply_returns_the_first_reply(mailbox):
    original = message_id(await send())
    first = await reply_message(PROJECT, original, "RedFox", "Thanks!", client_msg_id="reply-1")
    before = stored(mailbox)
    again = await reply_message(PROJECT, original, "RedFox", "Thanks!", client_msg_id="reply-1")
    assert again == first and first["reply_to"] == original and first["thread_id"] == str(original)
    assert stored(mailbox) == before
    with pytest.raises(InvalidArgumentError, match="'reply-1' was already used for a different message"):
        await reply_message(PROJECT, original, "RedFox", "Thanks again!", client_msg_id="reply-1")
    assert stored(mailbox) == before


async def test_a_send_and_a_reply_cannot_share_an_id(mailbox):
    original = message_id(await send())
    with pytest.raises(InvalidArgumentError, match="different message"):
        await reply_message(PROJECT, original, "BlueLake", "All **tests** pass.", client_msg_id="job-1")


# ---------------------------------------------------------------------------- how long a row lives


async def test_deleting_the_message_forgets_its_id(mailbox):
    first = await send()
    await delete_messages(PROJECT, [message_id(first)])
    assert mailbox.count("client_sends") == 0
    again = await send()
    assert message_id(again) != message_id(first) and mailbox.count("messages") == 1


async def test_purging_old_mail_takes_its_ids_along(mailbox):
    first = await send()
    mailbox.set_created(message_id(first), utcnow() - timedelta(days=400))
    await send("job-2", subject="Recent")
    await purge_old_messages(PROJECT, 365, dry_run=False, confirmation="I UNDERSTAND")
    assert mailbox.rows("SELECT client_msg_id FROM client_sends") == [("job-2",)]


async def test_hard_deletes_leave_no_rows_behind(mailbox):
    await open_policy(OTHER, "PurpleHill")
    await open_policy(PROJECT, "RedFox")
    await send()
    await send("to-elsewhere", to=[f"PurpleHill@{mailbox.slugs[OTHER]}"])
    await send_message(OTHER, "PurpleHill", [f"RedFox@{mailbox.slugs[PROJECT]}"], "Hi", "x", client_msg_id="p-1")
    await send("from-red", sender="RedFox", to=["GreenCastle"])
    assert mailbox.count("client_sends") == 4
    await hard_delete_agent(PROJECT, "BlueLake", "I UNDERSTAND")
    assert sorted(mailbox.rows("SELECT client_msg_id FROM client_sends")) == [("from-red",), ("p-1",)]
    await hard_delete_project(PROJECT, "I UNDERSTAND")
    assert mailbox.rows("SELECT client_msg_id FROM client_sends") == [("p-1",)]
    orphans = mailbox.count("client_sends", "message_id NOT IN (SELECT id FROM messages)")
    assert orphans == 0 and mailbox.count("client_sends", "sender_id NOT IN (SELECT id FROM agents)") == 0


async def test_a_restore_point_keeps_the_ids_and_a_retry_after_restoring_still_dedups(mailbox, tmp_path: Path):
    first = await send()
    saved = save_restore_point(get_settings(), tmp_path / "states")
    await send("job-2", subject="After the save")
    verified = verify_restore_point(saved.path)
    execute_restore(get_settings(), verified, plan_restore(get_settings(), verified), states_dir=tmp_path / "pre")
    assert mailbox.rows("SELECT client_msg_id FROM client_sends") == [("job-1",)]
    assert await send() == first
    assert mailbox.count("messages") == 1


# ---------------------------------------------------------------------------- unread_only


async def test_unread_only_lists_what_the_agent_has_not_read(mailbox):
    read = await mailbox.send("BlueLake", ["RedFox"], "Read already")
    unread = await mailbox.send("BlueLake", ["RedFox"], "Not yet")
    urgent = await mailbox.send("GreenCastle", ["RedFox"], "Urgent, unread", importance="urgent")
    await mailbox.send("BlueLake", ["GreenCastle"], "Someone else's")
    await mark_message_read(PROJECT, "RedFox", read)
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", unread_only=True)] == [urgent, unread]
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox")] == [urgent, unread, read]
    both = await fetch_inbox(PROJECT, "RedFox", unread_only=True, urgent_only=True)
    assert [item["id"] for item in both] == [urgent]
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", unread_only=True, limit=1)] == [urgent]


async def test_migration_12_indexes_unread_receipts_and_the_unread_inbox_reads_only_them(mailbox):
    from mcp_agent_mail.db import sync_write_connection
    from mcp_agent_mail.db.migrations import migrate

    with sync_write_connection() as conn:  # back to version 11: no index of unread receipts
        conn.exec_driver_sql("DROP INDEX ix_message_recipients_unread")
        conn.exec_driver_sql("DELETE FROM schema_version WHERE version >= 12")
    sent = [await mailbox.send("BlueLake", ["RedFox"], f"Note {n}") for n in range(12)]
    for message_id in sent[:10]:
        await mark_message_read(PROJECT, "RedFox", message_id)
    with sync_write_connection() as conn:
        assert migrate(conn)[0] == 12
        indexes = {index["name"] for index in inspect(conn).get_indexes("message_recipients")}
        assert "ix_message_recipients_unread" in indexes
        if conn.dialect.name == "sqlite":  # the planner walks the unread receipts alone, newest first
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT message_id FROM message_recipients "
                    "WHERE agent_id = 2 AND read_ts IS NULL ORDER BY message_id DESC LIMIT 20"
                )
            )
            assert "ix_message_recipients_unread" in plan and "TEMP B-TREE" not in plan
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", unread_only=True)] == sent[:9:-1]
    await mark_message_read(PROJECT, "RedFox", sent[11])
    assert [item["id"] for item in await fetch_inbox(PROJECT, "RedFox", unread_only=True)] == [sent[10]]


async def test_unread_only_respects_since_and_topic(mailbox):
    old = await mailbox.send("BlueLake", ["RedFox"], "Old", topic="ci")
    new = await mailbox.send("BlueLake", ["RedFox"], "New", topic="ci")
    other = await mailbox.send("BlueLake", ["RedFox"], "Other topic", topic="docs")
    mailbox.set_created(old, utcnow() - timedelta(hours=2))
    since = iso(utcnow() - timedelta(hours=1))
    assert [i["id"] for i in await fetch_inbox(PROJECT, "RedFox", since_ts=since, unread_only=True)] == [other, new]
    assert [i["id"] for i in await fetch_inbox(PROJECT, "RedFox", topic="CI", unread_only=True)] == [new, old]
    await mark_message_read(PROJECT, "RedFox", new)
    assert [i["id"] for i in await fetch_inbox(PROJECT, "RedFox", topic="ci", unread_only=True)] == [old]
