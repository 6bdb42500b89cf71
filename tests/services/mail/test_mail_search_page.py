"""One page of a project's search for a person (services.mail.search_page): order, paging, marks, odd queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mail_kit import OTHER, PROJECT

from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.mail.search_page import mark_words, search_page, split_snippet
from mcp_agent_mail.timeutil import utcnow


def _marked(pieces):
    return [text for text, marked in pieces if marked]


async def test_results_carry_marked_snippets_and_no_recipients(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "Deploy plan", body_md="We deploy the gateway on Friday.")
    await mailbox.send("RedFox", ["BlueLake"], "Lunch", body_md="Nothing about that.")
    result = await search_page(PROJECT, "gateway")
    [hit] = result.hits
    assert hit["subject"] == "Deploy plan" and hit["from"] == "BlueLake"
    assert _marked(hit["snippet_pieces"]) == ["gateway"]
    assert "".join(text for text, _ in hit["snippet_pieces"]) == "We deploy the gateway on Friday."
    assert not {"to", "cc", "bcc"} & hit.keys()
    assert result.notice is None and result.has_next is False


async def test_a_person_sees_mail_someone_was_only_blind_copied_on(mailbox):
    await mailbox.send("BlueLake", [], "Quiet note", bcc=["GreenCastle"], body_md="confidential budget")
    [hit] = (await search_page(mailbox.slugs[PROJECT], "budget")).hits
    assert hit["subject"] == "Quiet note"


async def test_time_order_pages_newest_first(mailbox):
    ids = [await mailbox.send("BlueLake", ["RedFox"], f"Report {n}", body_md="weekly report") for n in range(5)]
    now = utcnow()
    for age, message_id in enumerate(reversed(ids)):
        mailbox.set_created(message_id, now - timedelta(minutes=age))
    first = await search_page(PROJECT, "report", order="time", page_size=2)
    second = await search_page(PROJECT, "report", order="time", page=2, page_size=2)
    last = await search_page(PROJECT, "report", order="time", page=3, page_size=2)
    assert [h["id"] for h in first.hits + second.hits + last.hits] == list(reversed(ids))
    assert (first.has_next, second.has_next, last.has_next) == (True, True, False)


async def test_relevance_prefers_subject_matches(mailbox):
    body_only = await mailbox.send("BlueLake", ["RedFox"], "Notes", body_md="the migration is later")
    in_subject = await mailbox.send("BlueLake", ["RedFox"], "Migration", body_md="details follow")
    hits = (await search_page(PROJECT, "migration")).hits
    assert [h["id"] for h in hits] == [in_subject, body_only]
    assert _marked(hits[0]["subject_pieces"]) == ["Migration"]


async def test_query_forms_of_the_search_tool_work(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "Parser work", body_md="refactor the tokenizer")
    await mailbox.send("BlueLake", ["RedFox"], "Other", body_md="parser bugs everywhere")
    assert [h["subject"] for h in (await search_page(PROJECT, "subject:parser")).hits] == ["Parser work"]
    assert len((await search_page(PROJECT, "pars*")).hits) == 2
    assert _marked((await search_page(PROJECT, "token*")).hits[0]["snippet_pieces"]) == ["tokenizer"]
    assert [h["subject"] for h in (await search_page(PROJECT, '"parser bugs"')).hits] == ["Other"]


@pytest.mark.parametrize("query", ['"unbalanced', "plan AND (", "AND", "(a) b", "NEAR(", 'body:"', "x OR OR y", ")("])
async def test_broken_syntax_is_searched_for_its_words_and_says_so(mailbox, query):
    await mailbox.send("BlueLake", ["RedFox"], "Plan", body_md="a plan for x and y")
    result = await search_page(PROJECT, query)
    if result.searched_words:
        assert result.notice is not None
    else:
        assert result.hits == [] and result.notice


async def test_an_empty_search_finds_nothing_without_a_notice(mailbox):
    result = await search_page(PROJECT, "   ")
    assert result.hits == [] and result.notice is None


async def test_bad_parameters_and_unknown_projects_are_refused(mailbox):
    with pytest.raises(InvalidArgumentError):
        await search_page(PROJECT, "x", order="bogus")
    with pytest.raises(InvalidArgumentError):
        await search_page(PROJECT, "x", page=0)
    with pytest.raises(InvalidArgumentError):
        await search_page(PROJECT, "x" * 1001)
    with pytest.raises(NotFoundError):
        await search_page("no-such-project", "x")


async def test_another_projects_mail_stays_out(mailbox):
    await mailbox.send("BlueLake", ["RedFox"], "Ours", body_md="zebra")
    assert (await search_page(OTHER, "zebra")).hits == []


def test_marks_are_pieces_never_markup():
    assert mark_words("<b>plan</b> Plans", [("plan", True)]) == [
        ("<b>", False),
        ("plan", True),
        ("</b> ", False),
        ("Plans", True),
    ]
    assert split_snippet("a \x02hit\x03 b \x03stray") == [
        ("a ", False),
        ("hit", True),
        (" b ", False),
        ("stray", False),
    ]
