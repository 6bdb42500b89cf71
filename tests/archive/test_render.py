"""Rendering archive files from rows (archive.render): the document format, and pure, complete projections."""

from __future__ import annotations

import json

import pytest

from mcp_agent_mail.archive import paths
from mcp_agent_mail.archive.render import (
    json_bytes,
    message_document,
    parse_message_document,
    render_archive_files,
    render_message,
    render_project_files,
)
from mcp_agent_mail.db import sync_read_connection

SLUG = "work-demo-repo"


def test_json_files_are_sorted_indented_utf8_with_a_final_newline():
    data = json_bytes({"b": [1, {"z": None, "a": True}], "a": "ünï ☃"})
    assert data.endswith(b"}\n") and "ünï ☃".encode() in data
    expected = json.dumps({"a": "ünï ☃", "b": [1, {"a": True, "z": None}]}, indent=2, ensure_ascii=False)
    assert data.decode() == expected + "\n"


@pytest.mark.parametrize("body", ["Plain.", "", "line\n---\nstill body\n", "ends without newline"])
def test_a_message_document_parses_back_to_its_front_matter_and_body(body):
    front = {"id": 7, "subject": "Hi", "to": ["RedFox"]}
    document = message_document(front, body)
    assert document.startswith(b"---json\n{\n")
    assert parse_message_document(document) == (front, body)


def test_a_file_without_front_matter_is_not_a_message_document():
    with pytest.raises(ValueError, match="front matter"):
        parse_message_document(b"# Just markdown\n")


def test_a_message_renders_its_canonical_copy_and_one_copy_per_mailbox(seed, settings):
    pid = seed.project()
    blue, red, green = (seed.agent(pid, name) for name in ("BlueLake", "RedFox", "GreenCastle"))
    mid = seed.message(pid, blue, "Plan", "The plan.", to=(red,), bcc=(green,), thread_id="FEAT-1")
    with sync_read_connection(settings) as conn:
        rendered = render_message(conn, mid)
        again = render_message(conn, mid)
        assert render_message(conn, mid + 100) is None
    assert rendered is not None and again is not None and rendered.files == again.files  # same rows, same bytes
    canonical = next(p for p in rendered.files if p.startswith(f"projects/{SLUG}/messages/"))
    assert paths.MESSAGE_ID_SUFFIX.search(canonical).group(1) == str(mid)
    front, body = parse_message_document(rendered.files[canonical])
    assert (front["id"], front["subject"], front["thread_id"], body) == (mid, "Plan", "FEAT-1", "The plan.")
    boxes = sorted(p.split("/")[3:5] for p in rendered.files if "/agents/" in p)
    assert boxes == [["BlueLake", "outbox"], ["GreenCastle", "inbox"], ["RedFox", "inbox"]]
    assert "FEAT-1" in rendered.thread_keys  # its digest is re-rendered with it


def test_the_projection_covers_every_object_of_every_project(seed, settings):
    first = seed.project("/work/demo-repo")
    second = seed.project("/work/other-repo")
    blue = seed.agent(first, "BlueLake")
    red = seed.agent(first, "RedFox")
    seed.agent(second, "GreenCastle")
    seed.message(first, blue, "Hello", to=(red,), thread_id="T-1")
    rid = seed.reservation(first, red, "src/**")
    with sync_read_connection(settings) as conn:
        one = render_project_files(conn, first)
        everything = render_archive_files(conn)
        assert render_project_files(conn, 999) == {}
    assert paths.project_file(SLUG) in one and paths.profile_file(SLUG, "RedFox") in one
    assert paths.reservation_file(SLUG, rid) in one
    assert paths.thread_digest_file(SLUG, "T-1") in one
    assert not any("other-repo" in p for p in one)
    assert everything[".gitattributes"] == paths.GITATTRIBUTES
    assert set(one) < set(everything) and paths.profile_file("work-other-repo", "GreenCastle") in everything
    profile = json.loads(one[paths.profile_file(SLUG, "BlueLake")])
    assert profile["name"] == "BlueLake" and not any("token" in key for key in profile)
