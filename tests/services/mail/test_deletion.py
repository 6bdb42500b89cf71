"""Deleting chosen messages: gone from the database, the inbox tool, search and the archive's HEAD tree."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dulwich.repo import Repo
from fastmcp import Client
from mail_kit import OTHER, PROJECT, Mailbox, open_policy

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.mail.deletion import MAX_DELETE, check_message_ids, delete_messages, preview_deletion
from mcp_agent_mail.services.mail.messages import send_message


def head_paths(storage: Path) -> set[str]:
    """Every file path in the archive's HEAD commit."""
    repo = Repo(str(storage))
    try:
        tree = repo[repo.head()].tree  # type: ignore[attr-defined]
        return {entry.path.decode() for entry in repo.object_store.iter_tree_contents(tree)}
    finally:
        repo.close()


def copies_of(storage: Path, message_id: int) -> set[str]:
    """The archive files (canonical, inbox and outbox copies) of one message at HEAD."""
    return {path for path in head_paths(storage) if path.endswith(f"__{message_id}.md")}


async def flushed() -> None:
    await asyncio.to_thread(flush_pending)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (None, "must be a list"),
        ("12", "must be a list"),
        ([], "No message was chosen"),
        ([1, 0], "0 is not a message id"),
        ([1, -3], "-3 is not a message id"),
        ([True], "True is not a message id"),
        (["7"], "'7' is not a message id"),
        (list(range(1, MAX_DELETE + 2)), f"at most {MAX_DELETE}"),
    ],
)
def test_bad_id_lists_are_refused_before_any_lookup(given, problem):
    with pytest.raises(InvalidArgumentError, match=problem):
        check_message_ids(given)


def test_duplicates_count_once_so_500_distinct_ids_pass():
    assert check_message_ids([3, 1, 3]) == [3, 1]
    assert len(check_message_ids(list(range(1, MAX_DELETE + 1)) * 2)) == MAX_DELETE


async def test_deleted_mail_leaves_the_database_inbox_search_and_archive(mailbox: Mailbox, isolated_env):
    storage = isolated_env["storage"]
    await open_policy(PROJECT, "RedFox", "GreenCastle")
    gone = await mailbox.send("BlueLake", ["RedFox"], "Zebra migration plan", cc=["GreenCastle"])
    kept = await mailbox.send("BlueLake", ["RedFox"], "Zebra rollout notes")
    await flushed()
    assert len(copies_of(storage, gone)) == 4  # canonical, outbox, two inbox copies

    result = await delete_messages(PROJECT, [gone, 999_999])

    assert result["deleted_counts"] == {"messages": 1, "message_recipients": 2}
    assert [item["id"] for item in result["messages"]] == [gone]
    assert result["not_found"] == [999_999]
    assert mailbox.count("messages", "id = :id", id=gone) == 0
    assert mailbox.count("message_recipients", "message_id = :id", id=gone) == 0
    assert mailbox.count("messages", "id = :id", id=kept) == 1
    async with Client(build_mcp_server()) as client:
        inbox = (await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"})).data
        hits = (await client.call_tool("search_messages", {"project_key": PROJECT, "query": "zebra"})).data
    assert [item["id"] for item in inbox] == [kept]
    assert [hit["id"] for hit in hits] == [kept]
    await flushed()
    assert copies_of(storage, gone) == set()
    assert len(copies_of(storage, kept)) == 3


async def test_messages_of_another_project_are_reported_not_deleted(mailbox: Mailbox):
    theirs = await send_message(OTHER, "PurpleHill", ["PurpleHill"], "Elsewhere", "Body.")
    their_id = int(theirs["deliveries"][0]["payload"]["id"])
    before = mailbox.snapshot()

    result = await delete_messages(PROJECT, [their_id])

    assert result["deleted_counts"] == {"messages": 0, "message_recipients": 0}
    assert result["not_found"] == [their_id]
    assert mailbox.snapshot() == before  # not even an archive entry was queued


async def test_preview_names_the_messages_and_changes_nothing(mailbox: Mailbox):
    await open_policy(PROJECT, "RedFox", "GreenCastle")
    mid = await mailbox.send("BlueLake", ["RedFox", "GreenCastle"], "Preview me")
    before = mailbox.snapshot()

    preview = await preview_deletion(mailbox.slugs[PROJECT], [mid, 4242])

    assert preview["project_key"] == PROJECT and preview["not_found"] == [4242]
    (item,) = preview["messages"]
    assert (item["id"], item["subject"], item["sender"], item["recipients"]) == (mid, "Preview me", "BlueLake", 2)
    assert mailbox.snapshot() == before


async def test_an_unknown_project_is_not_found_and_nothing_changes(mailbox: Mailbox):
    mid = await mailbox.send("BlueLake", ["BlueLake"], "Mine")
    before = mailbox.snapshot()
    with pytest.raises(NotFoundError):
        await delete_messages("no-such-project", [mid])
    assert mailbox.snapshot() == before
