"""The recent-calls log filtered by project (any spelling of it) and by agent name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_agent_mail.services import metrics
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.recent_calls import recent_calls

PROJECT = "/work/recent-calls"
SLUG = "work-recent-calls"


@pytest.fixture
def fresh_metrics() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
async def calls(isolated_env, fresh_metrics) -> None:
    """Calls naming the project by path, by a path with a trailing slash, by slug, another project, and none."""
    await ensure_project(PROJECT)
    metrics.record_call("fetch_inbox", True, 3.0, PROJECT, "RedFox")
    metrics.record_call("send_message", False, 5.0, PROJECT + "/", "BlueLake")
    metrics.record_call("whois", True, 1.0, SLUG.upper(), "red-fox")
    metrics.record_call("fetch_inbox", True, 2.0, "/work/elsewhere", "RedFox")
    metrics.record_call("health_check", True, 1.0, None)


async def test_without_filters_every_call_is_listed_oldest_first(calls):
    entries = await recent_calls(600)
    assert [e["tool"] for e in entries] == ["fetch_inbox", "send_message", "whois", "fetch_inbox", "health_check"]
    assert entries[1] == {
        "timestamp": entries[1]["timestamp"],
        "tool": "send_message",
        "ok": False,
        "duration_ms": 5.0,
        "project": PROJECT + "/",
        "agent": "BlueLake",
    }
    assert "project" not in entries[-1] and "agent" not in entries[-1]


@pytest.mark.parametrize("spelling", [PROJECT, PROJECT + "//", SLUG, " " + SLUG + " "])
async def test_a_project_matches_by_path_or_slug(calls, spelling):
    entries = await recent_calls(600, project=spelling)
    assert [e["tool"] for e in entries] == ["fetch_inbox", "send_message", "whois"]


async def test_an_agent_matches_by_name_whatever_the_case_and_punctuation(calls):
    entries = await recent_calls(600, project=PROJECT, agent="REDFOX")
    assert [(e["tool"], e["agent"]) for e in entries] == [("fetch_inbox", "RedFox"), ("whois", "red-fox")]


async def test_an_unregistered_project_matches_only_as_spelt(calls):
    entries = await recent_calls(600, project="/work/elsewhere")
    assert [(e["tool"], e["project"]) for e in entries] == [("fetch_inbox", "/work/elsewhere")]
    assert await recent_calls(600, project="no-such-project") == []
