"""An inbox as the archive held it at a chosen time (services.archive_browse.time_travel)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from browse_kit import PROJECT, send_and_flush

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.archive_browse.commits import recent_commits
from mcp_agent_mail.services.archive_browse.time_travel import inbox_at
from wait_kit import wait_until


async def _latest_commit_time() -> str:
    return str((await recent_commits(get_settings(), page_size=1)).commits[0]["authored_ts"])


async def test_the_inbox_shows_mail_from_before_the_time_and_not_after(slug):
    before = await send_and_flush("Before the cut", importance="high")
    cut = await _latest_commit_time()
    cut_seconds = datetime.fromisoformat(cut).timestamp()
    wait_until(lambda: time.time() >= cut_seconds + 1, timeout=5, message="the clock passes the cut's second")
    after = await send_and_flush("After the cut")
    snapshot = await inbox_at(get_settings(), slug, "redfox", cut)
    assert snapshot.agent == "RedFox" and snapshot.commit is not None and snapshot.commit["authored_ts"] <= cut
    [item] = snapshot.messages
    assert (item["id"], item["subject"], item["from"], item["importance"]) == (
        before,
        "Before the cut",
        "BlueLake",
        "high",
    )
    now = await inbox_at(get_settings(), PROJECT, "RedFox", "2999-01-01T00:00")
    assert [m["id"] for m in now.messages] == [after, before]  # newest first


async def test_a_time_before_any_commit_says_so(slug):
    await send_and_flush("Anything")
    snapshot = await inbox_at(get_settings(), slug, "RedFox", "2001-01-01T00:00")
    assert snapshot.commit is None and snapshot.messages == [] and "No archive commit" in (snapshot.note or "")


async def test_an_empty_inbox_says_so(slug):
    await send_and_flush("To RedFox only")
    snapshot = await inbox_at(get_settings(), slug, "BlueLake", "2999-01-01T00:00Z")
    assert snapshot.messages == [] and "empty" in (snapshot.note or "")


async def test_pages(slug):
    for n in range(3):
        await send_and_flush(f"Note {n}")
    first = await inbox_at(get_settings(), slug, "RedFox", "2999-01-01", page_size=2)
    second = await inbox_at(get_settings(), slug, "RedFox", "2999-01-01", page=2, page_size=2)
    assert (len(first.messages), first.has_next, len(second.messages), second.has_next, first.total) == (
        2,
        True,
        1,
        False,
        3,
    )


@pytest.mark.parametrize("at", ["", "yesterday", "2026-13-01T00:00", "12:00", "2026-01-01T25:00"])
async def test_bad_times_are_refused(slug, at):
    with pytest.raises(InvalidArgumentError):
        await inbox_at(get_settings(), slug, "RedFox", at)


async def test_unknown_project_or_agent_is_not_found(slug):
    for project, agent in (("nowhere", "RedFox"), (slug, "NoSuchAgent")):
        with pytest.raises(NotFoundError):
            await inbox_at(get_settings(), project, agent, "2026-01-01T00:00")
