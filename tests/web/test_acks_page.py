"""The acknowledgements page (GET /mail/projects/{project}/acks): stale, overdue and all waiting acks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from web_kit import web_client

from mcp_agent_mail.db import schema, sync_write_connection
from mcp_agent_mail.timeutil import utcnow


def _age(message_id: int, minutes: int) -> None:
    m = schema.messages
    with sync_write_connection() as conn:
        conn.execute(update(m).where(m.c.id == message_id).values(created_ts=utcnow() - timedelta(minutes=minutes)))


async def test_stale_acks_list_who_owes_what(web_mailbox, local_app):
    _age(web_mailbox.ids["Release blocker"], 120)
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/acks")
    assert response.status_code == 200
    page = response.text
    assert "Release blocker" in page and "RedFox" in page and "GreenCastle" in page and "(cc)" in page
    assert f"/messages/{web_mailbox.ids['Release blocker']}" in page


async def test_fresh_acks_are_not_stale_but_show_under_all(web_mailbox, local_app):
    async with web_client(local_app) as client:
        stale = (await client.get(f"/mail/projects/{web_mailbox.slug}/acks")).text
        everything = (await client.get(f"/mail/projects/{web_mailbox.slug}/acks?state=all")).text
        overdue = (await client.get(f"/mail/projects/{web_mailbox.slug}/acks?state=overdue&ttl_minutes=1")).text
    assert "Release blocker" not in stale and "No acknowledgement is owed" in stale
    assert "Release blocker" in everything and "Release blocker" not in overdue


async def test_hostile_subjects_are_escaped(web_mailbox, local_app):
    await web_mailbox.send("BlueLake", ["RedFox"], "<img src=x onerror=alert(1)>", ack_required=True)
    async with web_client(local_app) as client:
        page = (await client.get(f"/mail/projects/{web_mailbox.slug}/acks?state=all")).text
    assert "<img src=x onerror=alert(1)>" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize("query", ["state=bogus", "state=overdue&ttl_minutes=0", "ttl_minutes=abc", "page=-1"])
async def test_bad_parameters_get_a_400_page(web_mailbox, local_app, query):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/acks?{query}")
    assert response.status_code == 400


async def test_unknown_project_is_a_404_page(web_mailbox, local_app):
    async with web_client(local_app) as client:
        response = await client.get("/mail/projects/nowhere/acks")
    assert response.status_code == 404
