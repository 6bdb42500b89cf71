"""Which directories may give files to agents: Git work tree tops, ATTACHMENT_ROOTS, never protected places."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrepo import init_repo, run_git
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.services.mail.source_roots import enclosing_source, is_work_tree_top, refusal


def test_work_tree_tops_are_recognised_without_running_git(isolated_git, tmp_path):
    repo = init_repo(tmp_path / "repo")
    assert is_work_tree_top(repo)
    assert not is_work_tree_top(repo / "src")  # inside a work tree is not its top
    linked = tmp_path / "linked"
    run_git(repo, "worktree", "add", "-q", str(linked))
    assert (linked / ".git").is_file() and is_work_tree_top(linked)
    fake = tmp_path / "fake"
    (fake / ".git").mkdir(parents=True)  # an empty .git folder is not a repository
    assert not is_work_tree_top(fake)
    pointer = tmp_path / "pointer"
    pointer.mkdir()
    (pointer / ".git").write_text("gitdir: /nowhere/at/all\n")
    assert not is_work_tree_top(pointer)
    (pointer / ".git").write_text("not a git file\n")
    assert not is_work_tree_top(pointer)
    assert not is_work_tree_top(tmp_path / "missing")


@pytest.mark.sqlite_only  # only a SQLite database has a directory of its own
def test_the_database_directory_is_never_a_source_even_in_a_work_tree(isolated_env, isolated_git, monkeypatch):
    repo = init_repo(isolated_env["tmp_path"] / "repo")
    assert refusal(repo, get_settings()) is None
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{repo / 'mail.sqlite3'}")
    clear_settings_cache()
    reason = refusal(repo, get_settings())
    assert reason is not None and "is or contains the directory of the mailbox database" in reason


def test_attachment_roots_admit_directories_below_them_and_skip_relative_entries(isolated_env, monkeypatch):
    shared = isolated_env["tmp_path"] / "shared"
    (shared / "a" / "b").mkdir(parents=True)
    monkeypatch.setenv("ATTACHMENT_ROOTS", f"relative, ,{shared}/")
    clear_settings_cache()
    settings = get_settings()
    assert settings.storage.attachment_roots == (str(shared),)
    assert refusal(shared / "a" / "b", settings) is None
    assert refusal(shared, settings) is None
    assert "neither the top of a Git work tree" in (refusal(isolated_env["tmp_path"] / "elsewhere", settings) or "")


@pytest.mark.parametrize(
    ("directory", "reason"),
    [
        ("/", "is or contains the file system root"),
        ("/usr", "is or contains the system directory /usr"),
        ("/etc/ssh", "lies inside the system directory /etc"),
        ("/proc/1", "lies inside the system directory /proc"),
    ],
)
def test_system_directories_are_refused_whatever_attachment_roots_say(isolated_env, monkeypatch, directory, reason):
    monkeypatch.setenv("ATTACHMENT_ROOTS", "/")
    clear_settings_cache()
    assert reason in (refusal(directory, get_settings()) or "")


def test_enclosing_source_is_the_nearest_work_tree_outside_protected_places(isolated_env, isolated_git, monkeypatch):
    tmp = isolated_env["tmp_path"]
    repo = init_repo(tmp / "repo")
    settings = get_settings()
    assert enclosing_source(repo / "src" / "app.py", settings) == repo
    assert enclosing_source(tmp / "loose.txt", settings) is None
    assert enclosing_source(Path("/etc/passwd"), settings) is None
    home = init_repo(tmp / "user-home")  # a home directory kept in Git is still the home directory
    monkeypatch.setenv("HOME", str(home))
    clear_settings_cache()
    assert enclosing_source(home / ".ssh" / "id_ed25519", get_settings()) is None
