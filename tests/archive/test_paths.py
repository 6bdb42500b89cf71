"""Where each object lives in the archive (archive.paths): safe components, stable names, relative links."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mcp_agent_mail.archive.paths import (
    MESSAGE_ID_SUFFIX,
    agent_dir,
    canonical_message_file,
    mailbox_file,
    message_filename,
    profile_file,
    project_file,
    relative_link,
    reservation_file,
    safe_component,
    subject_slug,
    thread_digest_file,
    valid_thread_key,
)

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "component"),
    [("BlueLake", "BlueLake"), ("a/b\\c", "a_b_c"), ("..", "__"), (".", "_"), ("  ", "_"), ("tab\there", "tab_here")],
)
def test_a_component_never_separates_paths_or_climbs_out(value, component):
    assert safe_component(value) == component


@pytest.mark.parametrize(
    ("subject", "slug"),
    [
        ("Schema change: users table!", "schema-change-users-table"),
        ("  ---  ", "message"),
        ("Ünïcode only ☃", "n-code-only"),
        ("x" * 100, "x" * 80),
        ("v1.2_final", "v1.2_final"),
    ],
)
def test_subjects_become_short_lowercase_file_names(subject, slug):
    assert subject_slug(subject) == slug


def test_message_files_are_named_by_utc_time_subject_and_id():
    name = message_filename(WHEN, "Hello World", 42)
    assert name == "2026-03-04T05-06-07Z__hello-world__42.md"
    assert MESSAGE_ID_SUFFIX.search(name).group(1) == "42"
    shifted = WHEN.astimezone(timezone(timedelta(hours=5)))  # the same instant in another zone
    assert message_filename(shifted, "Hello World", 42) == name
    assert canonical_message_file("proj", WHEN, "Hello World", 42) == f"projects/proj/messages/2026/03/{name}"
    assert mailbox_file("proj", "RedFox", "inbox", WHEN, "Hello World", 42) == (
        f"projects/proj/agents/RedFox/inbox/2026/03/{name}"
    )


def test_every_object_has_its_own_file_under_its_project():
    assert project_file("proj") == "projects/proj/project.json"
    assert agent_dir("proj", "../evil") == "projects/proj/agents/.._evil"
    assert profile_file("proj", "BlueLake") == "projects/proj/agents/BlueLake/profile.json"
    assert reservation_file("proj", 7) == "projects/proj/file_reservations/id-7.json"
    assert thread_digest_file("proj", "FEAT-1") == "projects/proj/messages/threads/FEAT-1.md"


@pytest.mark.parametrize(("key", "valid"), [("FEAT-1", True), ("42", True), ("", False), (None, False), ("-x", False)])
def test_only_well_formed_thread_keys_name_a_digest(key, valid):
    assert valid_thread_key(key) is valid


@pytest.mark.parametrize(
    ("source", "target", "link"),
    [
        ("projects/p/messages/threads/T.md", "projects/p/messages/2026/03/m.md", "../2026/03/m.md"),
        (
            "projects/p/agents/A/inbox/2026/03/m.md",
            "projects/p/messages/2026/03/m.md",
            "../../../../../messages/2026/03/m.md",
        ),
        ("a/b.md", "a/c.md", "c.md"),
        ("top.md", "a/b/c.md", "a/b/c.md"),
    ],
)
def test_relative_links_point_from_one_archive_file_to_another(source, target, link):
    assert relative_link(source, target) == link == posixpath.relpath(target, posixpath.dirname(source) or ".")
