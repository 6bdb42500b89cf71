"""The project search page (GET /mail/projects/{project}/search): results, marks, order, paging, odd input."""

from __future__ import annotations

import pytest
from web_kit import web_client
from xss_kit import CORPUS

NASTY_QUERIES = [
    '"unbalanced',
    "plan AND (",
    "AND",
    "OR OR",
    "NOT",
    "(a) b",
    ")(",
    "NEAR(",
    "NEAR(a b, 99999999999999999999)",
    "subject:",
    'body:"',
    "*",
    "**plan**",
    "'; DROP TABLE messages; --",
    "\\",
    "%_%",
    "🙂",
    "\u202e",
    "plan\x00x",
    "<script>alert(1)</script>",
    "a" * 1000,
]


async def test_results_show_marked_words_and_link_to_messages(web_mailbox, local_app):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/search", params={"q": "parser"})
    assert response.status_code == 200
    page = response.text
    assert "<mark>parser</mark>" in page
    assert f"/mail/projects/{web_mailbox.slug}/messages/{web_mailbox.ids['Plan for the parser']}" in page
    assert "Quiet note" not in page and "Elsewhere note" not in page


async def test_a_person_finds_mail_with_blind_copies_but_sees_no_recipients(web_mailbox, local_app):
    async with web_client(local_app) as client:
        page = (await client.get(f"/mail/projects/{web_mailbox.slug}/search", params={"q": "quiet"})).text
    rows = page.split("<tbody>")[1].split("</tbody>")[0]
    assert "<mark>Quiet</mark> note" in rows and "BlueLake" not in rows  # the blind-copied BlueLake stays hidden


async def test_time_order_and_pages(web_mailbox, local_app):
    for n in range(23):
        await web_mailbox.send("BlueLake", ["RedFox"], f"Digest {n:02d}", body_md="weekly digest")
    async with web_client(local_app) as client:
        first = (await client.get(f"/mail/projects/{web_mailbox.slug}/search?q=digest&order=time")).text
        second = (await client.get(f"/mail/projects/{web_mailbox.slug}/search?q=digest&order=time&page=2")).text
    assert first.index("</mark> 22") < first.index("</mark> 03") and "</mark> 02" not in first
    assert 'rel="next"' in first and "</mark> 02" in second and 'rel="next"' not in second


@pytest.mark.parametrize("query", NASTY_QUERIES)
async def test_nasty_queries_never_fail(web_mailbox, local_app, query):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/search", params={"q": query})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text


async def test_broken_syntax_says_what_happened(web_mailbox, local_app):
    async with web_client(local_app) as client:
        page = (await client.get(f"/mail/projects/{web_mailbox.slug}/search", params={"q": '"plan'})).text
    assert "could not be read as written" in page and "<mark>Plan</mark>" in page


@pytest.mark.parametrize("hostile", CORPUS[:8])
async def test_hostile_subjects_and_bodies_appear_escaped(web_mailbox, local_app, hostile):
    await web_mailbox.send("BlueLake", ["RedFox"], f"zebra {hostile}", body_md=f"zebra {hostile} zebra")
    async with web_client(local_app) as client:
        page = (await client.get(f"/mail/projects/{web_mailbox.slug}/search", params={"q": "zebra"})).text
    assert hostile not in page
    assert "<mark>zebra</mark>" in page


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": "x", "order": "bogus"}, 400),
        ({"q": "x", "page": "-1"}, 400),
        ({"q": "x", "page": "abc"}, 400),
        ({"q": "x" * 1001}, 400),
    ],
)
async def test_bad_parameters_get_a_400_page(web_mailbox, local_app, params, status):
    async with web_client(local_app) as client:
        response = await client.get(f"/mail/projects/{web_mailbox.slug}/search", params=params)
    assert response.status_code == status and "text/html" in response.headers["content-type"]


async def test_unknown_project_is_a_404_page(web_mailbox, local_app):
    async with web_client(local_app) as client:
        response = await client.get("/mail/projects/no-such-project/search", params={"q": "x"})
    assert response.status_code == 404 and "no-such-project" in response.text
