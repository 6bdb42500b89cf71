"""Counts read as people write them: "1 file", "2 files", never "1 files" or "file(s)"."""

from __future__ import annotations

from mcp_agent_mail.wording import agrees, counted


def test_one_is_singular_and_every_other_count_plural():
    assert [counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]


def test_an_irregular_plural_is_used_as_given():
    assert counted(1, "stale entry", "stale entries") == "1 stale entry"
    assert counted(3, "stale entry", "stale entries") == "3 stale entries"


def test_the_verb_agrees_with_the_count():
    assert f"{counted(1, 'file')} {agrees(1, 'is', 'are')} reserved" == "1 file is reserved"
    assert f"{counted(2, 'file')} {agrees(2, 'is', 'are')} reserved" == "2 files are reserved"
