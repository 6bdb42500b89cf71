"""Contact links (services.mail.contacts): requests with an intro message, responses, listing, the handshake."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from mail_kit import OTHER, PROJECT

from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.errors import AgentMailError, ContactBlockedError, InvalidArgumentError, UnauthorizedError
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.mail.contacts import (
    APPROVAL_TTL_SECONDS,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    REASON_MAX,
    check_reason,
    check_ttl,
    contact_handshake,
    list_contacts,
    request_contact,
    respond_contact,
)
from mcp_agent_mail.services.mail.inbox import fetch_inbox


def _link(mailbox, a: str, b: str) -> tuple[str, str] | None:
    rows = mailbox.rows(
        "SELECT status, expires_ts FROM agent_links WHERE a_agent_id = :a AND b_agent_id = :b",
        a=mailbox.agent_id(a),
        b=mailbox.agent_id(b),
    )
    return rows[0] if rows else None


def _expiry(result: dict) -> datetime:
    return datetime.fromisoformat(result["expires_ts"])


def test_ttl_and_reason_checks():
    notices: list[str] = []
    assert check_ttl(3600, notices) == 3600 and notices == []
    assert check_ttl(5, notices) == MIN_TTL_SECONDS
    assert notices == [f"ttl_seconds 5 was raised to the minimum of {MIN_TTL_SECONDS}."]
    for bad in (0, -1, MAX_TTL_SECONDS + 1, True, "60"):
        with pytest.raises(InvalidArgumentError, match="ttl_seconds must be an integer"):
            check_ttl(bad, [])  # type: ignore[arg-type]
    assert check_reason("  why  ") == "why" and check_reason(None) == ""
    with pytest.raises(InvalidArgumentError, match=f"limit is {REASON_MAX}"):
        check_reason("x" * (REASON_MAX + 1))


async def test_a_request_stores_a_pending_link_and_sends_one_intro_the_target_must_acknowledge(mailbox):
    result = await request_contact(PROJECT, "BlueLake", "RedFox", reason="Reviewing your API change")
    assert (result["from"], result["to"], result["status"]) == ("BlueLake", "RedFox", "pending")
    intro = result["notification_message"]
    assert intro["subject"] == "Contact request from BlueLake" and intro["ack_required"] is True
    assert "Reason: Reviewing your API change" in intro["body_md"]
    assert "respond_contact(project_key='/work/mail-services', to_agent='RedFox'" in intro["body_md"]
    assert _link(mailbox, "BlueLake", "RedFox")[0] == "pending"
    [item] = await fetch_inbox(PROJECT, "RedFox")
    assert item["id"] == intro["id"]

    again = await request_contact(PROJECT, "BlueLake", "RedFox")
    assert again["status"] == "pending" and "notification_message" not in again  # no second intro
    assert mailbox.count("messages") == 1 and mailbox.count("agent_links") == 1


async def test_accepting_approves_for_the_ttl_and_renewal_never_shortens_it(mailbox):
    await request_contact(PROJECT, "BlueLake", "RedFox")
    approved = await respond_contact(PROJECT, "RedFox", "BlueLake", accept=True)
    assert (approved["status"], approved["approved"], approved["updated"]) == ("approved", True, 1)
    lifetime = _expiry(approved) - datetime.now(_expiry(approved).tzinfo)
    assert timedelta(seconds=APPROVAL_TTL_SECONDS - 60) < lifetime <= timedelta(seconds=APPROVAL_TTL_SECONDS)
    assert _link(mailbox, "BlueLake", "RedFox")[0] == "approved"

    shorter = await respond_contact(PROJECT, "RedFox", "BlueLake", accept=True, ttl_seconds=3600)
    assert _expiry(shorter) == _expiry(approved)
    renewed = await request_contact(PROJECT, "BlueLake", "RedFox", ttl_seconds=60)
    assert renewed["status"] == "approved" and _expiry(renewed) == _expiry(approved)


async def test_declining_blocks_further_requests_and_changes_nothing_more(mailbox):
    await request_contact(PROJECT, "BlueLake", "RedFox")
    declined = await respond_contact(PROJECT, "RedFox", "BlueLake", accept=False)
    assert (declined["status"], declined["expires_ts"]) == ("blocked", None)
    before = mailbox.snapshot()
    with pytest.raises(ContactBlockedError, match="declined contact requests"):
        await request_contact(PROJECT, "BlueLake", "RedFox")
    assert mailbox.snapshot() == before
    assert _link(mailbox, "BlueLake", "RedFox") == ("blocked", None)


async def test_declining_without_a_request_records_nothing(mailbox):
    before = mailbox.snapshot()
    result = await respond_contact(PROJECT, "RedFox", "GreenCastle", accept=False)
    assert (result["status"], result["updated"]) == ("none", 0)
    assert mailbox.snapshot() == before


async def test_requests_that_cannot_be_made_are_refused_before_anything_is_stored(mailbox):
    await set_contact_policy(PROJECT, "GreenCastle", "block_all")
    before = mailbox.snapshot()
    with pytest.raises(InvalidArgumentError, match="itself"):
        await request_contact(PROJECT, "BlueLake", "bluelake")
    refused = await request_contact(PROJECT, "BlueLake", "GreenCastle")
    assert refused["status"] == "blocked"
    with pytest.raises(AgentMailError) as unknown:
        await request_contact(PROJECT, "BlueLake", "Nobody")
    assert unknown.value.code == "NOT_FOUND"
    assert mailbox.snapshot() == before


async def test_a_request_to_another_project_and_both_sides_listing_it(mailbox):
    slug = mailbox.slugs[OTHER]
    result = await request_contact(PROJECT, "BlueLake", f"PurpleHill@{slug}", reason="joint work")
    assert result["to_project"] == OTHER
    await respond_contact(OTHER, "PurpleHill", "BlueLake", accept=True, from_project=PROJECT)

    [mine] = await list_contacts(PROJECT, "BlueLake")
    assert (mine["direction"], mine["to"], mine["to_project"]) == ("outgoing", "PurpleHill", OTHER)
    assert (mine["status"], mine["allows_messaging"], mine["is_expired"]) == ("approved", True, False)
    [theirs] = await list_contacts(OTHER, "PurpleHill")
    assert (theirs["direction"], theirs["from"], theirs["reason"]) == ("incoming", "BlueLake", "joint work")
    assert await list_contacts(PROJECT, "RedFox") == []


async def test_a_welcome_needs_auto_accept_and_a_refused_handshake_stores_nothing(mailbox):
    before = mailbox.snapshot()
    with pytest.raises(InvalidArgumentError, match="go together"):
        await contact_handshake(PROJECT, "BlueLake", "RedFox", welcome_subject="Hi")
    with pytest.raises(InvalidArgumentError, match="needs auto_accept"):
        await contact_handshake(PROJECT, "BlueLake", "RedFox", welcome_subject="Hi", welcome_body="Hello")
    assert mailbox.snapshot() == before

    plain = await contact_handshake(PROJECT, "BlueLake", "RedFox")
    assert set(plain) == {"request"} and plain["request"]["status"] == "pending"


async def test_auto_accept_approves_and_welcomes_in_one_step_when_the_caller_may_act_as_the_target(
    mailbox, monkeypatch
):
    done = await contact_handshake(
        PROJECT,
        "BlueLake",
        "RedFox",
        auto_accept=True,
        welcome_subject="Welcome",
        welcome_body="Glad to work with you.",
    )
    assert done["response"]["status"] == "approved"
    assert done["welcome_message"]["deliveries"][0]["payload"]["to"] == ["RedFox"]
    assert _link(mailbox, "BlueLake", "RedFox")[0] == "approved"
    assert [item["subject"] for item in await fetch_inbox(PROJECT, "RedFox")] == ["Welcome"]

    # In strict identity mode approving on the target's behalf needs its token; without it nothing is stored.
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    before = mailbox.snapshot()
    with pytest.raises(UnauthorizedError, match="needs proof of identity") as caught:
        await contact_handshake(PROJECT, "BlueLake", "GreenCastle", auto_accept=True)
    assert caught.value.code == "UNAUTHORIZED" and "target_registration_token" in (caught.value.hint or "")
    assert mailbox.snapshot() == before and _link(mailbox, "BlueLake", "GreenCastle") is None

    token = (await register_agent(PROJECT, "pytest", "m", name="OrangeRiver"))["registration_token"]
    ok = await contact_handshake(PROJECT, "BlueLake", "OrangeRiver", auto_accept=True, target_registration_token=token)
    assert ok["response"]["status"] == "approved"
