"""Taking over a stale lease: the release stands, and the previous holder is told by mail unless asked not to."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import db_kit
from mcp_agent_mail.errors import ReservationActiveError
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.lease_takeover import force_release
from mcp_agent_mail.services.mail.inbox import fetch_inbox
from mcp_agent_mail.services.reservations.leases import reserve_paths
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/lease-takeover-not-on-this-machine"


def _sql(statement: str, **params: object) -> list[tuple[object, ...]]:
    return db_kit.query(statement, **params)


def _last_active(name: str, when: datetime) -> None:
    db_kit.update("agents", "name = :name", {"last_active_ts": when}, name=name)


@pytest.fixture
async def stale(isolated_env) -> int:
    """BlueLake holds src/** and has been idle for a day; RedFox wants it. Returns the lease id."""
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "p", "m", name=name)
        await set_contact_policy(PROJECT, name, "open")
    lease = (await reserve_paths(PROJECT, "BlueLake", ["src/**"]))["granted"][0]
    _last_active("BlueLake", utcnow() - timedelta(days=1))
    return int(lease["id"])


async def test_a_stale_lease_is_released_and_its_holder_gets_the_notice(stale):
    lease_id = stale
    result = await force_release(PROJECT, "RedFox", lease_id, note="Release day.")
    view = result["reservation"]
    assert result["released"] == 1 and view["notified"] is True and "notification_error" not in view
    assert "workspace_not_on_server" in view["stale_reasons"]
    assert _sql("SELECT released_ts IS NOT NULL FROM file_reservations WHERE id = :id", id=lease_id) == [(1,)]
    [mail] = await fetch_inbox(PROJECT, "BlueLake", include_bodies=True)
    assert mail["subject"] == "[file-reservations] Released stale lease on src/**" and mail["from"] == "RedFox"
    assert mail["thread_id"] == f"file-reservation-{lease_id}" and "> Release day." in mail["body_md"]
    assert (await reserve_paths(PROJECT, "RedFox", ["src/app.py"]))["conflicts"] == []


async def test_without_notify_the_lease_is_released_and_no_mail_is_sent(stale):
    lease_id = stale
    result = await force_release(PROJECT, "RedFox", lease_id, notify_previous=False)
    assert result["reservation"]["notified"] is False
    assert await fetch_inbox(PROJECT, "BlueLake") == []
    assert _sql("SELECT count(*) FROM messages") == [(0,)]


async def test_a_failed_notice_is_reported_and_the_release_still_stands(stale):
    lease_id = stale
    await set_contact_policy(PROJECT, "BlueLake", "block_all")
    result = await force_release(PROJECT, "RedFox", lease_id)
    view = result["reservation"]
    assert view["notified"] is False and view["notification_error"]["code"] == "CONTACT_BLOCKED"
    assert _sql("SELECT released_ts IS NOT NULL FROM file_reservations WHERE id = :id", id=lease_id) == [(1,)]


async def test_an_active_holder_keeps_the_lease_and_gets_no_mail(stale):
    lease_id = stale
    _last_active("BlueLake", utcnow())
    with pytest.raises(ReservationActiveError):
        await force_release(PROJECT, "RedFox", lease_id)
    assert _sql("SELECT released_ts FROM file_reservations WHERE id = :id", id=lease_id) == [(None,)]
    assert _sql("SELECT count(*) FROM messages") == [(0,)]


async def test_a_second_takeover_reports_the_lease_already_released_and_sends_nothing_more(stale):
    lease_id = stale
    await force_release(PROJECT, "RedFox", lease_id)
    again = await force_release(PROJECT, "RedFox", lease_id)
    assert again["released"] == 0 and again["already_released"] is True and "reservation" not in again
    assert _sql("SELECT count(*) FROM messages") == [(1,)]
