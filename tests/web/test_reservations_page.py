"""The reservations page (GET /mail/projects/{project}/reservations): statuses, overlaps, escaping, refusals."""

from __future__ import annotations

import pytest
from web_kit import PROJECT, web_client

from mcp_agent_mail.services.reservations.leases import release_reservations, reserve_paths


async def _grant(agent: str, pattern: str, exclusive: bool = False) -> int:
    return int((await reserve_paths(PROJECT, agent, [pattern], exclusive=exclusive))["granted"][0]["id"])


async def test_active_leases_show_holders_expiry_and_overlaps(web_mailbox, local_app):
    await _grant("BlueLake", "src/**")
    await _grant("RedFox", "src/api/*.py")
    await _grant("GreenCastle", "docs/**")
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/reservations")
    assert response.status_code == 200
    page = response.text
    assert "<mark>src/**</mark>" in page and "<mark>src/api/*.py</mark>" in page
    assert "docs/**" in page and "<mark>docs/**</mark>" not in page
    assert "in 59 min" in page or "in 1 h" in page  # the countdown, exact time on hover
    assert 'title="20' in page and "Active (3)" in page


async def test_released_filter(web_mailbox, local_app):
    await _grant("BlueLake", "notes.txt")
    await release_reservations(PROJECT, "BlueLake", paths=["notes.txt"])
    async with web_client(local_app) as client:
        active = (await client.get(f"/mail/projects/{web_mailbox.slug}/reservations")).text
        released = (await client.get(f"/mail/projects/{web_mailbox.slug}/reservations?status=released")).text
    assert "notes.txt" not in active and "No active reservations" in active
    assert "notes.txt" in released and 'aria-current="page">Released (1)' in released


async def test_hostile_reasons_are_escaped(web_mailbox, local_app):
    await reserve_paths(PROJECT, "BlueLake", ["x.txt"], reason="<script>alert(1)</script>")
    async with web_client(local_app) as client:
        page = (await client.get(f"/mail/projects/{web_mailbox.slug}/reservations")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("query", ["status=bogus", "page=0", "page=x"])
async def test_bad_parameters_get_a_400_page(web_mailbox, local_app, query):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/reservations?{query}")
    assert response.status_code == 400


async def test_unknown_project_is_a_404_page(web_mailbox, local_app):
    async with web_client(local_app) as client:
        response = await client.get("/mail/projects/nowhere/reservations")
    assert response.status_code == 404
