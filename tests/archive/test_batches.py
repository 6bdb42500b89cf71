"""Batching, crash replay and the full projection."""

from __future__ import annotations

from pathlib import Path

from mcp_agent_mail.archive import flush_pending, pending_count, recent_agent_commits, render_archive_files
from mcp_agent_mail.archive.flush import _apply_batch, _fetch
from mcp_agent_mail.archive.render import render_message
from mcp_agent_mail.db import sync_read_connection


def test_one_commit_per_batch_with_a_line_per_change(seed, archive):
    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    flush_pending()
    before = len(archive.commits())
    ids = [seed.message(pid, alice, f"Note {n}", to=(bob,)) for n in range(3)]
    seed.reservation(pid, bob, "docs/*.md")

    assert flush_pending() == 4
    commits = archive.commits()
    assert len(commits) == before + 1
    message = commits[0].message.decode()
    subject, body = message.split("\n\n", 1)
    assert subject == "archive: 4 changes"
    assert "- mail: Alice -> Bob | Note 0" in body and "- file_reservation: Bob docs/*.md" in body
    for mid in ids:
        assert f"Message-Id: {mid}" in body
    archive.assert_clean()


def _five_rows_in_batches_of_two(seed, monkeypatch) -> None:
    """Queue a project and four agents (five outbox rows) with ARCHIVE_BATCH_SIZE=2."""
    from mcp_agent_mail.config import clear_settings_cache, get_settings

    monkeypatch.setenv("ARCHIVE_BATCH_SIZE", "2")
    clear_settings_cache()
    seed.settings = get_settings()
    pid = seed.project()
    for name in ("A-1", "B-2", "C-3", "D-4"):
        seed.agent(pid, name)


def test_batch_size_splits_into_several_commits(seed, archive, monkeypatch):
    _five_rows_in_batches_of_two(seed, monkeypatch)
    assert flush_pending() == 5
    assert len(archive.commits()) == 1 + 3


def test_replay_after_commit_before_outbox_delete_changes_nothing(seed, archive):
    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    mid = seed.message(pid, alice, "Hello", to=(bob,), thread_id="T-1")
    flush_pending()
    files, commits = archive.files(), len(archive.commits())

    # The same rows again, as if the process died between the commit and the DELETE.
    for kind, ref in (("project", pid), ("agent", alice), ("agent", bob), ("message", mid), ("receipt", mid)):
        seed.enqueue(pid, kind, ref)
    assert flush_pending() == 5
    assert archive.files() == files
    assert len(archive.commits()) == commits
    assert pending_count() == 0
    archive.assert_clean()


def test_replay_after_files_written_before_commit(seed, archive, settings):
    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    flush_pending()
    mid = seed.message(pid, alice, "Crash here", to=(bob,), thread_id="T-9")
    # Simulate a crash after the work tree was written: files exist, no commit, rows still queued.
    with sync_read_connection(settings) as conn:
        rendered = render_message(conn, mid)
    assert rendered is not None
    for rel, data in rendered.files.items():
        path = Path(settings.storage.root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[: len(data) // 2])  # even a torn write is repaired
    commits = len(archive.commits())

    assert flush_pending() == 1
    assert len(archive.commits()) == commits + 1
    for rel, data in rendered.files.items():
        assert (archive.root / rel).read_bytes() == data
    assert len([p for p in archive.files() if p.endswith(f"__{mid}.md")]) == 3
    archive.assert_clean()


def test_replay_after_commit_made_but_rows_left(seed, archive, settings):
    pid = seed.project()
    alice = seed.agent(pid, "Alice")
    flush_pending()
    seed.reservation(pid, alice, "a/**")
    rows = _fetch(settings, 100)
    _apply_batch(settings, rows)  # committed, but the rows were never deleted
    commits = len(archive.commits())
    assert flush_pending() == 1
    assert len(archive.commits()) == commits
    archive.assert_clean()


def test_projection_matches_work_tree(seed, archive, settings):
    pid = seed.project()
    alice, bob, carol = (seed.agent(pid, n) for n in ("Alice", "Bob", "Carol"))
    first = seed.message(pid, alice, "Start", to=(bob,), bcc=(carol,))
    seed.message(pid, bob, "Re: Start", to=(alice,), cc=(carol,), thread_id=str(first))
    seed.reservation(pid, carol, "src/*")
    seed.receipt(pid, first, bob)
    flush_pending()
    with sync_read_connection(settings) as conn:
        projected = render_archive_files(conn)
    assert projected == archive.files()
    archive.git("fsck", "--strict")


async def test_recent_agent_commits_lists_commits_touching_the_agent(seed, archive):
    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    flush_pending()
    seed.message(pid, alice, "For Bob", to=(bob,))
    flush_pending()
    seed.reservation(pid, alice, "x/*")
    flush_pending()

    commits = await recent_agent_commits("/work/demo-repo", "bob", 5)
    assert [c["summary"] for c in commits] == ["mail: Alice -> Bob | For Bob", "archive: 3 changes"]
    assert all(len(c["hexsha"]) == 12 and c["authored_ts"].endswith("+00:00") for c in commits)
    assert len(await recent_agent_commits("/work/demo-repo", "Alice", 1)) == 1
    assert await recent_agent_commits("/nowhere", "Alice", 5) == []


def test_index_stays_truthful_after_git_cli_touched_it(seed, archive):
    pid = seed.project()
    alice = seed.agent(pid, "Alice")
    flush_pending()
    archive.git("write-tree")  # stores a cache-tree extension in the index
    archive.git("status")
    seed.reservation(pid, alice, "z/*")
    flush_pending()
    assert archive.git("write-tree").strip() == archive.git("rev-parse", "HEAD^{tree}").strip()
    assert archive.git("diff", "--cached", "--name-only") == ""
    archive.assert_clean()


def test_interrupted_initialisation_is_redone(settings, archive):
    git_dir = archive.root / ".git"
    (git_dir / "refs" / "heads").mkdir(parents=True)  # as if init died half-way
    assert flush_pending() == 0
    assert archive.subjects() == ["chore: initialize archive"]
    archive.assert_clean()


def test_a_steady_flush_drains_a_backlog_of_full_batches(seed, archive, monkeypatch):
    from mcp_agent_mail.archive.flush import try_flush

    _five_rows_in_batches_of_two(seed, monkeypatch)
    assert try_flush(seed.settings, steady=True) == 5  # full batches: the loop goes on until one comes back short
    assert len(archive.commits()) == 1 + 3
    assert pending_count() == 0
    archive.assert_clean()


def test_a_steady_flush_leaves_rows_queued_meanwhile_to_the_next_one_and_a_full_flush_takes_them(
    seed, archive, monkeypatch
):
    from mcp_agent_mail.archive import flush
    from mcp_agent_mail.archive.flush import try_flush

    pid = seed.project()
    alice, bob = seed.agent(pid, "Alice"), seed.agent(pid, "Bob")
    flush_pending()
    apply = flush._apply_batch
    arrivals = iter([("Sent while the first batch was written", alice)])

    def apply_while_mail_arrives(settings, rows):
        for subject, sender in arrivals:  # once: mail stored while the writer is busy
            seed.message(pid, sender, subject, to=(bob,))
        return apply(settings, rows)

    monkeypatch.setattr(flush, "_apply_batch", apply_while_mail_arrives)
    seed.message(pid, alice, "First", to=(bob,))
    commits = len(archive.commits())

    first = try_flush(seed.settings, steady=True)
    left = pending_count()
    assert first is not None and first > 0
    assert left > 0  # the arrival waits for the next wake-up ...
    assert len(archive.commits()) == commits + 1
    assert "Sent while the first batch" not in archive.commits()[0].message.decode()

    assert try_flush(seed.settings) == left  # ... and nothing is lost: the next flush writes it
    assert pending_count() == 0
    assert "Sent while the first batch" in archive.commits()[0].message.decode()
    archive.assert_clean()
