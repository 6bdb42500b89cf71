"""The human overseer: its reserved identity, its mail (high importance, marked human), its replies and refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mail_kit import OTHER, PROJECT

from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.errors import (
    AgentMailError,
    InvalidArgumentError,
    NotFoundError,
    ProjectArchivedError,
)
from mcp_agent_mail.services.identity.agents import (
    create_agent_identity,
    ensure_reserved_agent,
    register_agent,
    set_contact_policy,
)
from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent
from mcp_agent_mail.services.mail.inbox import fetch_inbox
from mcp_agent_mail.services.mail.overseer import (
    HUMAN_TOPIC,
    OVERSEER_NAME,
    OverseerDraft,
    is_overseer,
    problems,
    recipient_choices,
    reply_as_overseer,
    send_as_overseer,
    sent_by_human,
)


def draft(to: tuple[str, ...] = ("RedFox",), subject: str = "Stop the deploy", body: str = "Hold **now**.", **kw):
    return OverseerDraft(to=to, subject=subject, body_md=body, **kw)


async def test_first_send_creates_the_reserved_identity_once(mailbox):
    await send_as_overseer(PROJECT, draft())
    await send_as_overseer(PROJECT, draft(subject="Again"))
    rows = mailbox.rows(
        "SELECT name, program, model, contact_policy, registration_token_hash IS NOT NULL "
        "FROM agents WHERE name = :name",
        name=OVERSEER_NAME,
    )
    assert rows == [(OVERSEER_NAME, "web-ui", "human", "open", 1)]


async def test_the_message_reaches_inboxes_high_and_marked_human(mailbox):
    sent = await send_as_overseer(PROJECT, draft(to=("RedFox", "greencastle"), thread_id="OPS-7"))
    assert sent["recipients"] == ["RedFox", "GreenCastle"] and sent["thread_id"] == "OPS-7"
    for agent in ("RedFox", "GreenCastle"):
        (entry,) = await fetch_inbox(PROJECT, agent, include_bodies=True)
        assert entry["id"] == sent["message_id"]
        assert (entry["from"], entry["importance"], entry["topic"]) == (OVERSEER_NAME, "high", HUMAN_TOPIC)
        assert entry["body_md"] == "Hold **now**." and entry["thread_id"] == "OPS-7"
        assert sent_by_human(entry)
    assert await fetch_inbox(PROJECT, "BlueLake") == []


async def test_the_marker_survives_in_the_archive(mailbox, isolated_env):
    sent = await send_as_overseer(PROJECT, draft())
    await asyncio.to_thread(flush_pending)
    storage: Path = isolated_env["storage"]
    copies = [p for p in storage.rglob(f"*__{sent['message_id']}.md") if ".git" not in p.parts]
    assert len(copies) == 3  # canonical, the overseer's outbox, RedFox's inbox
    for path in copies:
        front, body = parse_message_document(path.read_bytes())
        assert (front["from"], front["importance"], front["topic"]) == (OVERSEER_NAME, "high", HUMAN_TOPIC)
        assert body == "Hold **now**."
    profiles = [p for p in storage.rglob("profile.json") if f"/agents/{OVERSEER_NAME}/" in p.as_posix()]
    assert len(profiles) == 1 and '"program": "web-ui"' in profiles[0].read_text()


@pytest.mark.parametrize("policy", ["contacts_only", "block_all"])
async def test_contact_policies_do_not_block_the_overseer(mailbox, policy):
    await set_contact_policy(PROJECT, "RedFox", policy)
    sent = await send_as_overseer(PROJECT, draft())
    assert [e["id"] for e in await fetch_inbox(PROJECT, "RedFox")] == [sent["message_id"]]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (draft(to=()), "at least one recipient"),
        (draft(to=("  ",)), "at least one recipient"),
        (draft(subject="   "), "subject is empty"),
        (draft(subject="x" * 201), "201 characters"),
        (draft(body="  \n"), "body is empty"),
        (draft(body="x" * (1024 * 1024 + 1)), "bytes"),
        (draft(to=("PurpleHill@elsewhere",)), "another project"),
        (draft(to=(OVERSEER_NAME,)), "cannot write to itself"),
        (draft(thread_id="bad id!"), "thread_id"),
    ],
)
def test_problems_name_what_is_wrong(given, expected):
    assert any(expected in problem for problem in problems(given))


def test_a_good_draft_has_no_problems():
    assert problems(draft(thread_id="42")) == []


async def test_several_problems_are_reported_together_and_nothing_is_stored(mailbox):
    before = mailbox.snapshot()
    with pytest.raises(InvalidArgumentError) as caught:
        await send_as_overseer(PROJECT, draft(to=(), subject=""))
    assert len(caught.value.data["problems"]) == 2
    assert mailbox.snapshot() == before
    assert mailbox.count("agents", "name = :name", name=OVERSEER_NAME) == 0


async def test_an_unknown_recipient_is_an_input_mistake_and_stores_nothing(mailbox):
    await send_as_overseer(PROJECT, draft())  # the identity exists already
    before = mailbox.snapshot()
    with pytest.raises(InvalidArgumentError) as caught:
        await send_as_overseer(PROJECT, draft(to=("RedFox", "RedFix")))
    assert "RedFix" in caught.value.message
    assert mailbox.snapshot() == before


async def test_a_retired_recipient_or_archived_project_sends_nothing(mailbox):
    await retire_agent(PROJECT, "GreenCastle")
    before = mailbox.snapshot()
    with pytest.raises(AgentMailError):
        await send_as_overseer(PROJECT, draft(to=("RedFox", "GreenCastle")))
    assert mailbox.snapshot() == before
    await archive_project(PROJECT)
    before = mailbox.snapshot()
    with pytest.raises(ProjectArchivedError):
        await send_as_overseer(PROJECT, draft())
    assert mailbox.snapshot() == before


async def test_an_unknown_project_is_not_found(mailbox):
    with pytest.raises(NotFoundError):
        await send_as_overseer("no-such-project", draft())


async def test_agents_cannot_take_the_reserved_name(mailbox):
    with pytest.raises(InvalidArgumentError):
        await register_agent(PROJECT, "p", "m", name=OVERSEER_NAME)
    with pytest.raises(InvalidArgumentError):
        await create_agent_identity(PROJECT, "p", "m", name_hint=OVERSEER_NAME)
    assert mailbox.count("agents", "name = :name", name=OVERSEER_NAME) == 0


async def test_a_reserved_identity_needs_a_name_agents_cannot_register(mailbox):
    from mcp_agent_mail.db import run_write
    from mcp_agent_mail.services.identity.resolve import resolve_project

    async def unit(session):
        project = await resolve_project(session, PROJECT)
        return await ensure_reserved_agent(session, project, "BlueLake", program="p", model="m", task_description="")

    with pytest.raises(ValueError, match="reserved"):
        await run_write(unit)


def test_is_overseer_compares_like_agent_names():
    assert is_overseer("HumanOverseer") and is_overseer(" humanoverseer ")
    assert not is_overseer("BlueLake") and not is_overseer(None)
    assert not sent_by_human({"from": "BlueLake", "topic": HUMAN_TOPIC})


async def test_choices_list_active_agents_without_the_overseer(mailbox):
    await send_as_overseer(PROJECT, draft())
    await retire_agent(PROJECT, "GreenCastle")
    choices = await recipient_choices(PROJECT)
    assert [a["name"] for a in choices["agents"]] == ["BlueLake", "RedFox"]
    assert choices["project"]["human_key"] == PROJECT and choices["more"] is False
    with pytest.raises(NotFoundError):
        await recipient_choices("no-such-project")


async def test_a_reply_goes_to_the_threads_active_agents_in_its_thread(mailbox):
    first = await mailbox.send("BlueLake", ["RedFox"], "Parser plan", thread_id="PARSE-1")
    await mailbox.send("RedFox", ["BlueLake", "GreenCastle"], "Re: Parser plan", thread_id="PARSE-1")
    await retire_agent(PROJECT, "GreenCastle")
    sent = await reply_as_overseer(PROJECT, "PARSE-1", "Ship it.")
    assert sent["recipients"] == ["BlueLake", "RedFox"]
    assert (sent["subject"], sent["thread_id"]) == ("Re: Parser plan", "PARSE-1")
    (entry,) = [e for e in await fetch_inbox(PROJECT, "RedFox") if e["id"] == sent["message_id"]]
    assert (entry["from"], entry["importance"], entry["topic"]) == (OVERSEER_NAME, "high", HUMAN_TOPIC)
    assert first != sent["message_id"]


async def test_a_reply_to_a_seed_message_uses_its_id_as_thread(mailbox):
    seed = await mailbox.send("BlueLake", ["RedFox"], "Standalone")
    sent = await reply_as_overseer(PROJECT, str(seed), "Noted.")
    assert sent["thread_id"] == str(seed) and sent["recipients"] == ["BlueLake", "RedFox"]


async def test_a_reply_refuses_missing_threads_and_empty_bodies(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "Parser plan", thread_id="PARSE-1")
    before = mailbox.snapshot()
    with pytest.raises(NotFoundError):
        await reply_as_overseer(PROJECT, "NOPE-1", "Hello")
    with pytest.raises(InvalidArgumentError):
        await reply_as_overseer(PROJECT, "PARSE-1", "   ")
    with pytest.raises(InvalidArgumentError):
        await reply_as_overseer(PROJECT, "bad thread!", "Hello")
    assert mailbox.snapshot() == before


async def test_a_thread_of_another_project_is_not_found_here(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "Parser plan", thread_id="PARSE-1")
    with pytest.raises(NotFoundError):
        await reply_as_overseer(OTHER, "PARSE-1", "Hello")
