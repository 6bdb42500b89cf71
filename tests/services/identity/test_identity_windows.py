"""Window identities: UUID and display-name checks, and the names a window keeps across registrations."""

from __future__ import annotations

from typing import Any

import pytest

import db_kit
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.errors import InvalidDisplayNameError, InvalidWindowUuidError, WindowNotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.identity.windows import (
    check_display_name,
    expire_window,
    list_window_identities,
    parse_window_uuid,
    rename_window,
)

PROJECT = "/work/windows-service"
WINDOW = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"


def test_a_window_uuid_is_returned_lower_case_and_anything_else_is_refused():
    assert parse_window_uuid(f" {WINDOW} ") == WINDOW.lower()
    for bad in ("", "not-a-uuid", "3F2504E0-4F89-11D3-9A0C"):
        with pytest.raises(InvalidWindowUuidError) as refused:
            parse_window_uuid(bad)
        assert refused.value.code == "INVALID_WINDOW_UUID"


def test_a_display_name_must_be_an_adjective_noun_name():
    assert check_display_name("quiet-otter") == "QuietOtter"
    for bad in ("worker-1", "Otter", ""):
        with pytest.raises(InvalidDisplayNameError):
            check_display_name(bad)


@pytest.fixture
async def window(isolated_env, monkeypatch) -> None:
    """This server runs in a window; the project exists."""
    monkeypatch.setenv("MCP_AGENT_MAIL_WINDOW_ID", WINDOW)
    clear_settings_cache()
    await ensure_project(PROJECT)


def _window_rows() -> list[tuple[Any, ...]]:
    return db_kit.rows("window_identities", "window_uuid", "display_name")


async def test_the_first_registration_names_the_window_and_later_ones_reuse_it(window):
    first = await register_agent(PROJECT, "p", "m")
    assert first["window_id"] == WINDOW.lower() and first["window_display_name"] == first["name"]
    again = await register_agent(PROJECT, "p", "m")
    assert again["name"] == first["name"] and again["created"] is False
    assert _window_rows() == [(WINDOW.lower(), first["name"])]
    [listed] = await list_window_identities(PROJECT)
    assert listed["display_name"] == first["name"] and listed["age_days"] == 0


async def test_renaming_and_expiring_change_what_the_window_is_called(window):
    first = await register_agent(PROJECT, "p", "m")
    renamed = await rename_window(PROJECT, WINDOW, "quiet otter")
    assert renamed["display_name"] == "QuietOtter" and renamed["old_display_name"] == first["name"]
    assert (await register_agent(PROJECT, "p", "m"))["name"] == "QuietOtter"

    expired = await expire_window(PROJECT, WINDOW.lower())
    assert expired["expired"] is True and await list_window_identities(PROJECT) == []
    with pytest.raises(WindowNotFoundError):
        await rename_window(PROJECT, WINDOW, "SilentOwl")
    assert _window_rows() == [(WINDOW.lower(), "QuietOtter")]  # the refusal changed nothing
