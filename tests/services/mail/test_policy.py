"""Contact policies: the verdict for each recipient, in the documented order, and the refusal it raises."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from mail_kit import OTHER, PROJECT
from sqlalchemy import RowMapping, select, update

from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import get_session, schema, sync_write_connection
from mcp_agent_mail.errors import AgentMailError, AgentRetiredError, ContactBlockedError, ContactRequiredError
from mcp_agent_mail.services.identity.agents import set_contact_policy
from mcp_agent_mail.services.identity.lifecycle import retire_agent
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.mail import recipients as rcpt
from mcp_agent_mail.services.mail.contacts import request_contact, respond_contact
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.mail.policy import Verdict, evaluate, raise_refusals, request_call
from mcp_agent_mail.services.reservations.leases import reserve_paths
from mcp_agent_mail.timeutil import utcnow


async def _agents(*names: str) -> list[RowMapping]:
    a = schema.agents
    async with get_session() as session:
        rows = (await session.execute(select(a).where(a.c.name.in_(names)))).mappings().all()
    by_name = {row["name"]: row for row in rows}
    return [by_name[name] for name in names]


async def _verdict(sender: str, *recipients: str, thread_id: str | None = None) -> dict[str, list[str]]:
    [sender_row] = await _agents(sender)
    rows = await _agents(*recipients)
    async with get_session() as session:
        verdict = await evaluate(session, sender_row, rows, thread_id=thread_id)
    return {
        kind: sorted(row["name"] for row in getattr(verdict, kind))
        for kind in ("allowed", "retired", "blocked", "required")
        if getattr(verdict, kind)
    }


async def test_each_policy_gives_its_verdict_within_one_project(mailbox):
    await set_contact_policy(PROJECT, "RedFox", "contacts_only")
    await set_contact_policy(PROJECT, "GreenCastle", "block_all")
    assert await _verdict("BlueLake", "RedFox", "GreenCastle", "BlueLake") == {
        "allowed": ["BlueLake"],  # writing to yourself is always allowed
        "blocked": ["GreenCastle"],
        "required": ["RedFox"],
    }
    await retire_agent(PROJECT, "RedFox")
    assert await _verdict("BlueLake", "RedFox") == {"retired": ["RedFox"]}


async def test_an_approved_link_opens_contacts_only_until_it_expires(mailbox):
    await set_contact_policy(PROJECT, "RedFox", "contacts_only")
    await request_contact(PROJECT, "BlueLake", "RedFox", reason="review")
    assert await _verdict("BlueLake", "RedFox") == {"required": ["RedFox"]}  # pending is not approved
    await respond_contact(PROJECT, "RedFox", "BlueLake", accept=True)
    assert await _verdict("BlueLake", "RedFox") == {"allowed": ["RedFox"]}
    assert await _verdict("GreenCastle", "RedFox") == {"required": ["RedFox"]}  # links are one-way and per pair

    k = schema.agent_links
    with sync_write_connection() as conn:
        conn.execute(update(k).values(expires_ts=utcnow() - timedelta(seconds=1)))
    assert await _verdict("BlueLake", "RedFox") == {"required": ["RedFox"]}


async def test_a_declined_link_blocks_even_an_open_recipient_and_block_all_beats_any_link(mailbox):
    await request_contact(PROJECT, "BlueLake", "RedFox")
    await respond_contact(PROJECT, "RedFox", "BlueLake", accept=False)
    await set_contact_policy(PROJECT, "RedFox", "open")
    assert await _verdict("BlueLake", "RedFox") == {"blocked": ["RedFox"]}

    await request_contact(PROJECT, "BlueLake", "GreenCastle")
    await respond_contact(PROJECT, "GreenCastle", "BlueLake", accept=True)
    await set_contact_policy(PROJECT, "GreenCastle", "block_all")
    assert await _verdict("BlueLake", "GreenCastle") == {"blocked": ["GreenCastle"]}


async def test_auto_across_projects_needs_contact_unless_the_pair_recently_exchanged_mail(mailbox, monkeypatch):
    slug = mailbox.slugs[OTHER]
    assert await _verdict("BlueLake", "PurpleHill") == {"required": ["PurpleHill"]}
    await request_contact(PROJECT, "BlueLake", f"PurpleHill@{slug}")
    await respond_contact(OTHER, "PurpleHill", "BlueLake", accept=True, from_project=PROJECT)
    sent = await send_message(PROJECT, "BlueLake", [f"PurpleHill@{slug}"], "Hello", "x", thread_id="JOINT-1")
    assert sent["count"] == 1
    # PurpleHill never asked for contact, but the pair exchanged mail within CONTACT_AUTO_TTL_SECONDS.
    assert await _verdict("PurpleHill", "BlueLake") == {"allowed": ["BlueLake"]}

    monkeypatch.setenv("CONTACT_AUTO_TTL_SECONDS", "0")
    clear_settings_cache()
    assert await _verdict("PurpleHill", "BlueLake") == {"required": ["BlueLake"]}
    assert await _verdict("PurpleHill", "BlueLake", thread_id="JOINT-1") == {"allowed": ["BlueLake"]}
    assert await _verdict("PurpleHill", "BlueLake", thread_id="OTHER-1") == {"required": ["BlueLake"]}


async def test_overlapping_reservations_let_auto_through_when_same_project_is_not_enough(mailbox, monkeypatch):
    monkeypatch.setenv("CONTACT_AUTO_ALLOW_SAME_PROJECT", "false")
    monkeypatch.setenv("CONTACT_AUTO_TTL_SECONDS", "0")
    clear_settings_cache()
    assert await _verdict("BlueLake", "RedFox", "GreenCastle") == {"required": ["GreenCastle", "RedFox"]}
    await reserve_paths(PROJECT, "BlueLake", ["src/api/**"], exclusive=False)
    await reserve_paths(PROJECT, "RedFox", ["src/api/users.py"], exclusive=False)
    await reserve_paths(PROJECT, "GreenCastle", ["docs/**"], exclusive=False)
    assert await _verdict("BlueLake", "RedFox", "GreenCastle") == {
        "allowed": ["RedFox"],
        "required": ["GreenCastle"],
    }


async def test_without_enforcement_only_retirement_refuses(mailbox, monkeypatch):
    await set_contact_policy(PROJECT, "RedFox", "block_all")
    await retire_agent(PROJECT, "GreenCastle")
    monkeypatch.setenv("CONTACT_ENFORCEMENT_ENABLED", "false")
    clear_settings_cache()
    assert await _verdict("BlueLake", "RedFox", "GreenCastle", "PurpleHill") == {
        "allowed": ["PurpleHill", "RedFox"],
        "retired": ["GreenCastle"],
    }


def _row(agent_id: int, name: str, project_id: int = 1) -> Any:
    return {"id": agent_id, "name": name, "project_id": project_id}


def test_refusals_are_raised_retired_first_then_blocked_then_required():
    sender, project = _row(1, "BlueLake"), {"id": 1, "human_key": "/work/p"}

    def label(row: Any) -> str:
        return str(row["name"])

    def no_project(row: Any) -> None:
        return None

    raise_refusals(Verdict(allowed=[_row(2, "RedFox")]), sender, project, label, no_project)  # nothing refused
    both = Verdict(retired=[_row(2, "RedFox")], blocked=[_row(3, "GreenCastle")])
    with pytest.raises(AgentRetiredError):
        raise_refusals(both, sender, project, label, no_project)
    with pytest.raises(ContactBlockedError) as blocked:
        raise_refusals(Verdict(blocked=[_row(3, "GreenCastle")]), sender, project, label, no_project)
    assert blocked.value.data == {"recipients_blocked": ["GreenCastle"]}

    many = Verdict(required=[_row(n, f"Agent{n}") for n in range(2, 7)])
    with pytest.raises(ContactRequiredError) as required:
        raise_refusals(many, sender, project, label, no_project)
    error = required.value
    assert error.data["recipients_blocked"] == [f"Agent{n}" for n in range(2, 7)]
    assert len(error.data["suggested_tool_calls"]) == 5
    assert (error.hint or "").count("request_contact(") == 3 and "; ..." in (error.hint or "")


def test_the_suggested_call_names_the_other_project_only_when_there_is_one():
    target = _row(2, "PurpleHill", project_id=2)
    assert request_call("/work/p", "BlueLake", target, None) == (
        "request_contact(project_key='/work/p', from_agent='BlueLake', to_agent='PurpleHill', "
        'reason="<why you need to write>")'
    )
    assert "to_project='/work/q'" in request_call("/work/p", "BlueLake", target, "/work/q")


async def test_resolving_recipients_for_a_sender_reads_only_that_senders_links(mailbox):
    await request_contact(PROJECT, "BlueLake", "RedFox")
    await respond_contact(PROJECT, "RedFox", "BlueLake", accept=True)
    await request_contact(PROJECT, "BlueLake", "GreenCastle")
    await respond_contact(PROJECT, "GreenCastle", "BlueLake", accept=False)
    await request_contact(PROJECT, "RedFox", "GreenCastle")  # another sender's link, pending
    [blue, red] = await _agents("BlueLake", "RedFox")
    lists: dict[rcpt.Kind, list[str]] = {"to": ["RedFox", "GreenCastle"], "cc": ["PurpleHill@" + OTHER], "bcc": []}
    async with get_session() as session:
        project = await resolve_project(session, PROJECT)
        for_blue = await rcpt.resolve(session, project, lists, sender_id=blue["id"])
        for_red = await rcpt.resolve(session, project, lists, sender_id=red["id"])
        without = await rcpt.resolve(session, project, lists)
    assert for_blue.links is not None and for_red.links is not None
    assert {for_blue.agents[i]["name"]: link["status"] for i, link in for_blue.links.items()} == {
        "RedFox": "approved",
        "GreenCastle": "blocked",
    }
    red_links = {for_red.agents[i]["name"]: link["status"] for i, link in for_red.links.items()}
    assert red_links == {"GreenCastle": "pending"}
    assert without.links is None
    assert for_blue.agents.keys() == without.agents.keys() and for_blue.kinds == without.kinds
    assert {row["name"]: dict(row) for row in for_blue.agents.values()} == {
        row["name"]: dict(row) for row in without.agents.values()
    }


async def test_a_send_obeys_the_links_read_with_its_recipients(mailbox):
    await set_contact_policy(PROJECT, "RedFox", "contacts_only")
    await request_contact(PROJECT, "BlueLake", "RedFox")
    await respond_contact(PROJECT, "RedFox", "BlueLake", accept=True)
    await request_contact(PROJECT, "BlueLake", "GreenCastle")
    await respond_contact(PROJECT, "GreenCastle", "BlueLake", accept=False)
    await set_contact_policy(PROJECT, "GreenCastle", "open")

    sent = await send_message(PROJECT, "BlueLake", ["RedFox"], "approved", "BlueLake's link to RedFox is approved")
    assert sent["count"] == 1
    with pytest.raises(ContactBlockedError):
        await send_message(PROJECT, "BlueLake", ["GreenCastle"], "declined", "a declined link beats an open policy")
    with pytest.raises(ContactRequiredError):
        await send_message(PROJECT, "GreenCastle", ["RedFox"], "no link", "BlueLake's link does not admit others")
    async with get_session() as session:
        subjects = (await session.execute(select(schema.messages.c.subject))).scalars().all()
    assert [subject for subject in subjects if not subject.startswith("Contact request")] == ["approved"]


async def _outcome(read: Any) -> Any:
    """Return what a resolution gives, or the coded error it raises, in a comparable shape."""
    try:
        found = await read()
    except AgentMailError as exc:
        return (exc.code, exc.message, exc.hint, exc.data)
    return (
        {i: dict(row) for i, row in found.agents.items()},
        found.kinds,
        found.slugs,
        {i: dict(link) for i, link in (found.links or {}).items()},
    )


@pytest.mark.parametrize(
    ("lists", "refusal"),
    [
        ({"to": ["RedFox"], "cc": ["GreenCastle"], "bcc": []}, None),
        ({"to": ["redfox", " GreenCastle "], "cc": ["RedFox"], "bcc": ["BlueLake"]}, None),  # case, repeats, self
        ({"to": ["RedFox", "RedFix"], "cc": [], "bcc": ["claude-code"]}, "NOT_FOUND"),  # with suggestions
        ({"to": ["RedFox", "GreenCastle"], "cc": [], "bcc": []}, "AGENT_RETIRED"),
    ],
    ids=["plain", "repeats", "unknown", "retired"],
)
async def test_the_one_statement_read_resolves_exactly_as_the_separate_lookups(mailbox, lists, refusal):
    if refusal == "AGENT_RETIRED":
        await retire_agent(PROJECT, "GreenCastle")
    await request_contact(PROJECT, "BlueLake", "RedFox")
    await respond_contact(PROJECT, "RedFox", "BlueLake", accept=True)
    [blue] = await _agents("BlueLake")
    async with get_session() as session:
        project = await resolve_project(session, PROJECT)
        home = await rcpt.read_home(session, PROJECT, "BlueLake", lists)
        assert home is not None and home.sender["id"] == blue["id"] and home.project["id"] == project["id"]
        fast = await _outcome(lambda: rcpt.resolve_home(session, home, lists))
        separate = await _outcome(lambda: rcpt.resolve(session, project, lists, sender_id=blue["id"]))
    assert fast == separate
    if refusal is None:
        assert set(fast[3]) == {home.agents["redfox"]["id"]}  # BlueLake's approved link to RedFox came along
    else:
        assert fast[0] == refusal


async def test_the_one_statement_read_steps_aside_for_other_projects_and_missing_senders(mailbox):
    plain: dict[rcpt.Kind, list[str]] = {"to": ["RedFox"], "cc": [], "bcc": []}
    async with get_session() as session:
        assert await rcpt.read_home(session, PROJECT, "Nobody", plain) is None
        assert await rcpt.read_home(session, "/no/such/project", "BlueLake", plain) is None
        assert await rcpt.read_home(session, PROJECT, "BlueLake", {**plain, "cc": [f"PurpleHill@{OTHER}"]}) is None
        assert await rcpt.read_home(session, PROJECT, "BlueLake", plain) is not None
