"""Archive history for people (services.archive_browse.commits): paged commits, one commit's files and diff."""

from __future__ import annotations

import pytest
from browse_kit import send_and_flush

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.archive_browse import commits
from mcp_agent_mail.services.archive_browse.commits import commit_detail, recent_commits


async def test_an_archive_without_history_is_empty(isolated_env):
    log = await recent_commits(get_settings())
    assert log.empty_archive and log.commits == []


async def test_commits_page_newest_first(slug):
    for n in range(3):
        await send_and_flush(f"Status {n}")
    settings = get_settings()
    first = await recent_commits(settings, page_size=2)
    everything = await recent_commits(settings, page_size=100)
    assert first.has_next and [c["sha"] for c in first.commits] == [c["sha"] for c in everything.commits[:2]]
    assert "Status 2" in first.commits[0]["summary"] and first.commits[0]["author"] == "test-agent"
    assert everything.commits[-1]["summary"] == "chore: initialize archive" and not everything.has_next
    second = await recent_commits(settings, page=2, page_size=2)
    assert [c["sha"] for c in second.commits] == [c["sha"] for c in everything.commits[2:4]]


async def test_a_commit_shows_its_files_and_diff(slug):
    await send_and_flush("Gateway rollout", body="Roll out the gateway.")
    latest = (await recent_commits(get_settings(), page_size=1)).commits[0]
    for sha in (latest["sha"], latest["short_sha"], latest["sha"].upper()):
        detail = await commit_detail(get_settings(), sha)
        assert detail.commit["sha"] == latest["sha"]
    paths = [f["path"] for f in detail.files]
    assert any(p.endswith(".md") and "/inbox/" in p for p in paths)
    assert all(f["change"] == "add" for f in detail.files if "gateway-rollout" in f["path"])
    assert ("add", "+Roll out the gateway.") in detail.diff_lines
    assert not detail.diff_truncated


async def test_a_large_diff_is_cut_at_the_cap(slug, monkeypatch):
    monkeypatch.setattr(commits, "DIFF_CAP_BYTES", 2000)
    await send_and_flush("Long", body="line\n" * 2000)
    latest = (await recent_commits(get_settings(), page_size=1)).commits[0]
    detail = await commit_detail(get_settings(), latest["sha"])
    assert detail.diff_truncated and sum(len(text) + 1 for _, text in detail.diff_lines) <= 2100


@pytest.mark.parametrize("sha", ["", "abc", "xyz1234", "1234567g", "a" * 41, "../../etc", "<script>"])
async def test_malformed_ids_are_refused(slug, sha):
    with pytest.raises(InvalidArgumentError):
        await commit_detail(get_settings(), sha)


async def test_unknown_ids_are_not_found(slug):
    await send_and_flush("One")
    for sha in ("0" * 40, "deadbee"):
        with pytest.raises(NotFoundError):
            await commit_detail(get_settings(), sha)
