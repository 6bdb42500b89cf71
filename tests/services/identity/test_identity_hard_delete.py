"""Irreversible deletions: the confirmation gate, exact counts, and a project's old mail purged by age."""

from __future__ import annotations

from datetime import timedelta

import pytest

import db_kit
from mcp_agent_mail import archive
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.hard_delete import (
    CONFIRMATION,
    check_max_age_days,
    hard_delete_agent,
    hard_delete_project,
    purge_old_messages,
)
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.reservations.leases import reserve_paths
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/hard-delete-service"
OTHER = "/work/hard-delete-other"
TABLES = ("projects", "agents", "messages", "message_recipients", "file_reservations")


def _counts() -> dict[str, int]:
    return {name: db_kit.count(name) for name in TABLES}


@pytest.fixture
async def seeded(isolated_env) -> None:
    """BlueLake wrote one message to RedFox and received one back; BlueLake holds a lease; another project exists."""
    await ensure_project(PROJECT)
    await ensure_project(OTHER)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "p", "m", name=name)
        await set_contact_policy(PROJECT, name, "open")
    await register_agent(OTHER, "p", "m", name="PurpleHill")
    await send_message(PROJECT, "BlueLake", ["RedFox"], "First", "one")
    await send_message(PROJECT, "RedFox", ["BlueLake"], "Second", "two")
    await reserve_paths(PROJECT, "BlueLake", ["src/**"])
    archive.flush_pending()


@pytest.mark.parametrize("confirmation", [None, "", "i understand", "I UNDERSTAND "])
async def test_without_the_exact_confirmation_nothing_is_deleted(seeded, confirmation):
    before = _counts()
    with pytest.raises(InvalidArgumentError, match="nothing was deleted") as refused:
        await hard_delete_agent(PROJECT, "BlueLake", confirmation)
    assert refused.value.code == "INVALID_ARGUMENT"
    with pytest.raises(InvalidArgumentError, match="nothing was deleted"):
        await hard_delete_project(PROJECT, confirmation)
    with pytest.raises(InvalidArgumentError, match="nothing was deleted"):
        await purge_old_messages(PROJECT, 1, dry_run=False, confirmation=confirmation)
    assert _counts() == before and archive.pending_count() == 0


async def test_deleting_an_agent_removes_its_mail_and_leases_with_exact_counts(seeded):
    result = await hard_delete_agent(PROJECT, "bluelake", CONFIRMATION)
    assert result["status"] == "hard_deleted" and result["agent_name"] == "BlueLake"
    assert result["deleted_counts"] == {
        "messages_sent": 1,
        "sent_message_recipients": 1,
        "message_recipients": 1,
        "file_reservations": 1,
        "agent_links": 0,
        "message_summaries": 0,
        "agent": 1,
    }
    assert _counts() == {
        "projects": 2,
        "agents": 2,
        "messages": 1,
        "message_recipients": 0,
        "file_reservations": 0,
    }
    assert db_kit.query("SELECT subject FROM messages") == [("Second",)]  # the reply it received stays


async def test_deleting_a_project_leaves_other_projects_alone(seeded):
    result = await hard_delete_project(PROJECT, CONFIRMATION)
    assert result["deleted_counts"]["agents"] == 2 and result["deleted_counts"]["messages"] == 2
    assert _counts() == {
        "projects": 1,
        "agents": 1,
        "messages": 0,
        "message_recipients": 0,
        "file_reservations": 0,
    }
    assert db_kit.query("SELECT human_key FROM projects") == [(OTHER,)]


@pytest.mark.parametrize("value", [0, -1, 36501, True, 1.5, "30"])
def test_a_retention_age_outside_one_to_36500_days_is_refused(value):
    with pytest.raises(InvalidArgumentError, match="max_age_days must be an integer from 1 to 36500"):
        check_max_age_days(value)


def test_the_retention_age_defaults_to_the_setting(isolated_env, monkeypatch):
    from mcp_agent_mail.config import clear_settings_cache

    monkeypatch.setenv("RETENTION_MAX_AGE_DAYS", "42")
    clear_settings_cache()
    assert check_max_age_days(None) == 42 and check_max_age_days(7) == 7


async def test_a_dry_run_lists_old_mail_and_a_confirmed_purge_deletes_only_it(seeded):
    db_kit.update("messages", "subject = 'First'", {"created_ts": utcnow() - timedelta(days=40)})
    [(old_id,)] = db_kit.query("SELECT id FROM messages WHERE subject = 'First'")

    dry = await purge_old_messages(PROJECT, 30)
    assert dry["status"] == "dry_run" and dry["messages_affected"] == 1 and dry["message_ids"] == [old_id]
    assert _counts()["messages"] == 2

    done = await purge_old_messages(PROJECT, 30, dry_run=False, confirmation=CONFIRMATION)
    assert done["status"] == "purged" and done["messages_affected"] == 1 and done["max_age_days"] == 30
    assert db_kit.query("SELECT subject FROM messages") == [("Second",)]
    assert db_kit.count("message_recipients", "message_id = :id", id=old_id) == 0
    assert archive.pending_count() == 1  # the purged message's files leave the archive
