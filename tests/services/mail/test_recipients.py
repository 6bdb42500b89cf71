"""Recipients: parsing addresses, validating the lists, resolving names to agents here and in other projects."""

from __future__ import annotations

from typing import Any

import pytest
from mail_kit import OTHER, PROJECT

from mcp_agent_mail.db import get_session
from mcp_agent_mail.errors import (
    AgentRetiredError,
    ConfigurationError,
    InvalidArgumentError,
    NotFoundError,
    ProjectArchivedError,
)
from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.mail.recipients import (
    MAX_RECIPIENTS,
    Address,
    Recipients,
    check_projects_writable,
    clean_lists,
    parse_address,
    resolve,
)


@pytest.mark.parametrize(
    ("raw", "name", "project"),
    [
        ("BlueLake", "BlueLake", None),
        (" BlueLake@work-x ", "BlueLake", "work-x"),
        ("BlueLake@/work/x", "BlueLake", "/work/x"),
        ("project:/work/x#BlueLake", "BlueLake", "/work/x"),
        ("PROJECT:work-x#Blue", "Blue", "work-x"),
        ("BlueLake@", "BlueLake@", None),  # no project after @: kept whole, so it is reported as unknown
        ("project:#BlueLake", "project:#BlueLake", None),
    ],
)
def test_addresses_name_an_agent_and_optionally_its_project(raw, name, project):
    assert parse_address(raw) == Address(raw, name, project)


def test_lists_are_trimmed_and_need_at_least_one_name():
    assert clean_lists([" RedFox "], None, ["GreenCastle"]) == {"to": ["RedFox"], "cc": [], "bcc": ["GreenCastle"]}
    assert clean_lists(None, None, None, allow_empty=True) == {"to": [], "cc": [], "bcc": []}
    with pytest.raises(InvalidArgumentError, match="no recipients"):
        clean_lists([], [], [])
    with pytest.raises(InvalidArgumentError, match=r"cc\[1\] is empty"):
        clean_lists(["RedFox"], ["GreenCastle", "  "], None)
    with pytest.raises(InvalidArgumentError, match=r"to\[0\] is empty"):
        clean_lists([42], None, None)  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match=f"at most {MAX_RECIPIENTS}"):
        clean_lists([f"agent-{n}" for n in range(MAX_RECIPIENTS + 1)], None, None)


def test_a_placeholder_recipient_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as caught:
        clean_lists(["YOUR_AGENT_NAME"], None, None)
    assert caught.value.code == "CONFIGURATION_ERROR"


def test_each_agent_is_kept_once_under_the_first_kind_added():
    home = Recipients(home_project_id=1)
    local: Any = {"id": 7, "project_id": 1, "name": "RedFox"}
    foreign: Any = {"id": 9, "project_id": 2, "name": "PurpleHill"}
    home.add(local, "to")
    home.add(local, "bcc")
    home.add(foreign, "cc", "work-other")
    assert home.kinds == {7: "to", 9: "cc"}
    assert home.names("to") == ["RedFox"] and home.names("cc") == ["PurpleHill@work-other"]
    assert home.names("bcc") == []
    assert home.rows(5) == [
        {"message_id": 5, "agent_id": 7, "kind": "to"},
        {"message_id": 5, "agent_id": 9, "kind": "cc"},
    ]


async def _resolve(lists: dict[str, list[str]], project_key: str = PROJECT) -> Recipients:
    full: Any = {"to": [], "cc": [], "bcc": [], **lists}
    async with get_session() as session:
        project = await resolve_project(session, project_key)
        return await resolve(session, project, full)


async def test_names_resolve_case_insensitively_in_the_sending_project_only(mailbox):
    resolved = await _resolve({"to": ["redfox"], "cc": ["GREENCASTLE"], "bcc": ["RedFox"]})
    assert resolved.names("to") == ["RedFox"] and resolved.names("cc") == ["GreenCastle"]
    assert resolved.names("bcc") == []
    with pytest.raises(NotFoundError):
        await _resolve({"to": ["PurpleHill"]})  # lives in the other project


async def test_another_projects_agent_resolves_by_slug_or_path(mailbox):
    slug = mailbox.slugs[OTHER]
    by_slug = await _resolve({"to": [f"PurpleHill@{slug}"]})
    by_path = await _resolve({"to": [f"project:{OTHER}#purplehill"]})
    assert by_slug.names("to") == by_path.names("to") == [f"PurpleHill@{slug}"]


async def test_every_unknown_name_is_reported_at_once_with_suggestions(mailbox):
    with pytest.raises(NotFoundError) as caught:
        await _resolve({"to": ["RedFx", "all", "claude-code", "gpt-4o", "Nobody@no-such-project"]})
    error = caught.value
    assert error.data["unknown"] == ["RedFx", "all", "claude-code", "gpt-4o", "Nobody@no-such-project"]
    assert error.data["suggestions"]["RedFx"] == ["RedFox"]
    hint = error.hint or ""
    assert "did you mean RedFox" in hint
    assert "pass broadcast=true" in hint
    assert "'claude-code' is a program name" in hint
    assert "'gpt-4o' looks like a model name" in hint
    assert "Project 'no-such-project' of 'Nobody@no-such-project' does not exist" in hint


async def test_retired_recipients_and_archived_projects_are_refused(mailbox):
    await retire_agent(PROJECT, "GreenCastle")
    with pytest.raises(AgentRetiredError) as caught:
        await _resolve({"to": ["RedFox"], "cc": ["GreenCastle"]})
    assert caught.value.data == {"retired": ["GreenCastle"]}

    resolved = await _resolve({"to": [f"PurpleHill@{mailbox.slugs[OTHER]}"]})
    async with get_session() as session:
        await check_projects_writable(session, resolved)  # the other project is open
    await archive_project(OTHER)
    async with get_session() as session:
        with pytest.raises(ProjectArchivedError, match=mailbox.slugs[OTHER]):
            await check_projects_writable(session, resolved)
