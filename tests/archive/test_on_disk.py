"""The archive as it is on disk: which paths the projection owns, and how work tree and HEAD drift from it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mcp_agent_mail.archive.flush import flush_pending
from mcp_agent_mail.archive.on_disk import (
    archive_source_files,
    attachment_sha,
    compare_archive,
    idle_writer,
    is_managed,
    worktree_paths,
)
from mcp_agent_mail.archive.render import render_archive_files
from mcp_agent_mail.archive.repo import writer_lock
from mcp_agent_mail.db import sync_read_connection

SHA = "ab" + "c" * 62


@pytest.mark.parametrize(
    ("rel", "managed"),
    [
        ("projects/demo/project.json", True),
        ("projects/demo/agents/BlueLake/profile.json", True),
        ("projects/demo/agents/BlueLake/contacts.json", True),
        ("projects/demo/agents/BlueLake/notes.json", False),
        ("projects/demo/agents/BlueLake/inbox/2026/03/2026-03-04T05-06-07Z__hello__12.md", True),
        ("projects/demo/agents/BlueLake/inbox/2026/03/readme.md", False),
        ("projects/demo/messages/2026/03/2026-03-04T05-06-07Z__hello__12.md", True),
        ("projects/demo/messages/threads/feat-1.md", True),
        ("projects/demo/file_reservations/id-3.json", True),
        ("projects/demo/file_reservations/notes.json", False),
        ("projects/demo/README.md", False),
        ("README.md", False),
        (f"projects/demo/attachments/ab/{SHA}.png", False),
    ],
)
def test_only_projection_paths_are_managed(rel, managed):
    assert is_managed(rel) is managed


def test_an_attachment_path_names_its_sha_only_when_well_formed():
    assert attachment_sha(f"projects/demo/attachments/ab/{SHA}.png") == SHA
    assert attachment_sha(f"projects/demo/attachments/ab/{SHA}") == SHA
    assert attachment_sha(f"projects/demo/attachments/cd/{SHA}.png") is None  # wrong fan-out folder
    assert attachment_sha("projects/demo/attachments/ab/not-a-sha.png") is None
    assert attachment_sha(f"projects/demo/other/ab/{SHA}.png") is None


def _expected(settings) -> dict[str, bytes]:
    with sync_read_connection(settings) as conn:
        return render_archive_files(conn)


@pytest.fixture
def flushed(seed, settings) -> Path:
    """One project, two agents, a message, a reservation, all written and committed; returns the archive root."""
    pid = seed.project()
    blue, red = seed.agent(pid, "BlueLake"), seed.agent(pid, "RedFox")
    seed.message(pid, blue, "Hello", to=(red,))
    seed.reservation(pid, blue, "src/**")
    flush_pending(settings)
    return Path(settings.storage.root)


def test_a_freshly_flushed_archive_matches_the_projection(flushed, settings):
    expected = _expected(settings)
    drift = compare_archive(expected, flushed)
    assert drift.clean and drift.has_repo and drift.details() == {"expected_files": len(expected)}
    assert set(expected) <= set(worktree_paths(flushed))
    assert not any(p.startswith(".git/") for p in worktree_paths(flushed))


def test_each_kind_of_drift_is_told_apart(flushed, settings):
    expected = _expected(settings)
    profile = next(p for p in expected if p.endswith("BlueLake/profile.json"))
    reservation = next(p for p in expected if "/file_reservations/" in p)
    (flushed / profile).write_text("{}\n")
    (flushed / reservation).unlink()
    stray = reservation.replace("id-", "id-99")
    (flushed / stray).write_text("{}\n")
    (flushed / "projects" / "notes.txt").write_text("a human's note\n")

    drift = compare_archive(expected, flushed)
    assert drift.differ_worktree == [profile] and drift.missing_worktree == [reservation]
    assert drift.missing_committed == [] and drift.differ_committed == []
    assert drift.extra == [stray]  # an unmanaged file is never called extra
    assert drift.to_write == sorted([profile, reservation]) and not drift.clean
    assert drift.details()["extra_sample"] == [stray]


def test_a_missing_repository_means_nothing_is_committed(settings, tmp_path):
    expected = {"projects/demo/project.json": b"{}\n"}
    drift = compare_archive(expected, tmp_path / "no-archive")
    assert (
        drift.has_repo is False
        and drift.missing_committed == list(expected)
        and drift.missing_worktree == list(expected)
    )


def test_source_files_prefer_the_work_tree_and_fall_back_to_head(flushed, settings):
    expected = _expected(settings)
    profile = next(p for p in expected if p.endswith("RedFox/profile.json"))
    message = next(p for p in expected if "/messages/" in p and "/threads/" not in p)
    committed_message = (flushed / message).read_bytes()
    (flushed / profile).write_text('{"edited": true}\n')
    (flushed / message).unlink()
    (flushed / "projects" / "notes.txt").write_text("not part of the archive\n")

    files, from_history = archive_source_files(flushed)
    assert files[profile] == b'{"edited": true}\n'
    assert files[message] == committed_message and from_history == [message]
    assert "projects/notes.txt" not in files


def test_the_writer_is_idle_only_when_nobody_holds_its_lock(flushed, tmp_path):
    with idle_writer(tmp_path / "no-archive") as idle:
        assert idle is True
    with idle_writer(flushed) as idle:
        assert idle is True
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(flushed, 5.0) as acquired:
            assert acquired
            holding.set()
            done.wait(timeout=60)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert holding.wait(timeout=30)
        with idle_writer(flushed) as idle:
            assert idle is False
    finally:
        done.set()
        worker.join(timeout=60)
