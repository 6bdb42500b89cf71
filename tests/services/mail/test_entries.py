"""One shape for a message in every listing: inbox, topic, mailbox and outbox views agree on each field."""

from __future__ import annotations

from mail_kit import OTHER, PROJECT, open_policy
from sqlalchemy import select

from mcp_agent_mail.db import schema, sync_read_connection
from mcp_agent_mail.services.mail.entries import message_entry
from mcp_agent_mail.services.mail.inbox import acknowledge_message, fetch_inbox
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.mail.topics import fetch_topic
from mcp_agent_mail.services.mail.views import mailbox_view, outbox_view

RECEIPT_KEYS = {"kind", "read_ts", "ack_ts"}


def _without(entry: dict[str, object], keys: set[str]) -> dict[str, object]:
    return {k: v for k, v in entry.items() if k not in keys}


async def test_the_listings_agree_on_every_field_they_share(mailbox):
    message_id = await mailbox.send(
        "BlueLake", ["RedFox"], "Build is red", body_md="See CI.", thread_id="T-7", topic="build-status"
    )
    await acknowledge_message(PROJECT, "RedFox", message_id)

    [received] = await fetch_inbox(PROJECT, "RedFox", include_bodies=True)
    [topical] = await fetch_topic(PROJECT, "build-status", agent_name="RedFox")
    [boxed] = (await mailbox_view(PROJECT, "RedFox", limit=10, with_commits=False))["messages"]
    [sent] = (await outbox_view(PROJECT, "BlueLake", limit=10, include_bodies=True, since_ts=None))["messages"]

    assert received["id"] == message_id and received["thread_id"] == "T-7" and received["topic"] == "build-status"
    assert received["kind"] == "to" and received["read_ts"] == received["ack_ts"]
    assert topical == _without(received, RECEIPT_KEYS)  # a topic listing is not anyone's inbox
    assert boxed == _without(received, {"body_md"})  # the mailbox view leaves bodies out
    assert _without(sent, {"to"}) == _without(received, RECEIPT_KEYS) and sent["to"] == ["RedFox"]
    assert list(received)[:4] == ["id", "project_id", "sender_id", "from"]


async def test_a_sender_from_another_project_is_named_with_its_slug_everywhere(mailbox):
    await open_policy(PROJECT, "RedFox")
    await send_message(OTHER, "PurpleHill", [f"RedFox@{mailbox.slugs[PROJECT]}"], "Hi", "x", topic="greetings")
    expected = f"PurpleHill@{mailbox.slugs[OTHER]}"
    [received] = await fetch_inbox(PROJECT, "RedFox")
    [boxed] = (await mailbox_view(PROJECT, "RedFox", limit=10, with_commits=False))["messages"]
    assert received["from"] == boxed["from"] == expected
    [at_home] = await fetch_topic(OTHER, "greetings")
    assert at_home["from"] == "PurpleHill"


async def test_optional_parts_appear_only_when_asked_and_set(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "Plain", body_md="text")
    m, r, a, p = schema.messages, schema.message_recipients, schema.agents, schema.projects
    query = (
        select(
            m,
            r.c.kind,
            r.c.read_ts,
            r.c.ack_ts,
            a.c.name.label("sender_name"),
            a.c.project_id.label("sender_project_id"),
            p.c.slug.label("sender_slug"),
        )
        .join(r, r.c.message_id == m.c.id)
        .join(a, a.c.id == m.c.sender_id)
        .join(p, p.c.id == a.c.project_id)
        .where(m.c.id == message_id)
    )
    with sync_read_connection() as conn:
        row = conn.execute(query).mappings().one()
    bare = message_entry(row, row["project_id"], body=False)
    assert set(bare) == {"id", "project_id", "sender_id", "from", "subject", "importance", "ack_required", "created_ts"}
    full = message_entry(row, row["project_id"], body=True, attachments=True, receipt=True)
    assert set(full) - set(bare) == {"body_md", "kind"}  # no thread, topic, attachments or receipt times set
    assert message_entry(row, row["project_id"] + 1, body=False)["from"] == f"BlueLake@{mailbox.slugs[PROJECT]}"
