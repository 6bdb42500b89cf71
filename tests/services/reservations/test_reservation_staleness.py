"""Whether a lease's holder is provably stale: the verdict from each signal, the workspace scan and the notice."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dulwich import porcelain

from mcp_agent_mail.services.reservations.staleness import (
    AgentActivity,
    Staleness,
    WorkspaceActivity,
    judge,
    release_notice,
    workspace_activity,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=3)
IDLE = AgentActivity(last_active=LONG_AGO, last_mail=None, retired=False)
QUIET_DIR = WorkspaceActivity(checked=True, workspace_found=True, files_matched=True, last_file_change=LONG_AGO)


def test_an_idle_agent_without_mail_or_workspace_signals_is_stale(isolated_env):
    verdict = judge(IDLE, None, NOW)
    assert verdict.stale is True
    assert verdict.reasons == ["agent_inactive>1800s", "no_recent_mail_activity>900s"]


def test_each_recent_signal_alone_keeps_the_holder(isolated_env):
    assert (
        judge(AgentActivity(NOW - timedelta(minutes=5), None, False), None, NOW).reasons[0] == "agent_recently_active"
    )
    recent_mail = judge(AgentActivity(LONG_AGO, NOW - timedelta(minutes=1), False), None, NOW)
    assert recent_mail.stale is False and "mail_activity_recent" in recent_mail.reasons
    recent_file = WorkspaceActivity(checked=True, workspace_found=True, files_matched=True, last_file_change=NOW)
    assert judge(IDLE, recent_file, NOW).stale is False
    recent_commit = WorkspaceActivity(checked=True, workspace_found=True, repository=True, last_commit=NOW)
    assert "git_activity_recent" in judge(IDLE, recent_commit, NOW).reasons
    for unsure in (
        WorkspaceActivity(checked=True, workspace_found=True, scan_complete=False),
        WorkspaceActivity(checked=True, workspace_found=True, repository=True, repository_readable=False),
    ):
        assert judge(IDLE, unsure, NOW).stale is False  # what cannot be read proves nothing


def test_a_retired_holder_counts_as_inactive_even_if_active_moments_ago(isolated_env):
    verdict = judge(AgentActivity(NOW, None, True), QUIET_DIR, NOW)
    assert verdict.stale is True and verdict.reasons[0] == "agent_retired"
    assert verdict.reasons[2:] == ["no_recent_filesystem_activity>900s", "no_git_repository"]


def test_virtual_and_absent_workspaces_are_named_in_the_reasons(isolated_env, tmp_path):
    virtual = workspace_activity(str(tmp_path), "tool://deploy", NOW)
    assert virtual == WorkspaceActivity() and "virtual_reservation" in judge(IDLE, virtual, NOW).reasons
    absent = workspace_activity(str(tmp_path / "not-here"), "src/**", NOW)
    assert absent.checked and not absent.workspace_found
    assert "workspace_not_on_server" in judge(IDLE, absent, NOW).reasons


def _touch(path: Path, when: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_the_workspace_scan_finds_the_newest_matching_file_only(isolated_env, tmp_path):
    _touch(tmp_path / "src" / "app.py", LONG_AGO)
    _touch(tmp_path / "docs" / "guide.md", NOW)
    found = workspace_activity(str(tmp_path), "src/*.py", NOW)
    assert found.workspace_found and found.files_matched and found.scan_complete
    assert found.last_file_change == LONG_AGO.replace(microsecond=0) and found.repository is False
    unmatched = workspace_activity(str(tmp_path), "lib/**", NOW)
    assert unmatched.files_matched is False and "path_pattern_unmatched" in judge(IDLE, unmatched, NOW).reasons


def test_a_recent_commit_touching_the_pattern_is_found_in_the_repository(isolated_env, tmp_path):
    porcelain.init(str(tmp_path))
    _touch(tmp_path / "src" / "app.py", LONG_AGO)
    porcelain.add(str(tmp_path), paths=[str(tmp_path / "src" / "app.py")])
    porcelain.commit(str(tmp_path), message=b"edit app", author=b"T <t@example.com>", committer=b"T <t@example.com>")
    now = datetime.now(UTC)
    touched = workspace_activity(str(tmp_path), "src/**", now)
    assert touched.repository is True and touched.last_commit is not None
    assert now - touched.last_commit < timedelta(minutes=5)
    elsewhere = workspace_activity(str(tmp_path), "docs/**", now)
    assert elsewhere.repository is True and elsewhere.last_commit is None


def test_the_release_notice_names_the_lease_the_reasons_the_note_and_how_to_get_it_back(isolated_env):
    verdict = Staleness(True, ["agent_inactive>1800s", "no_recent_mail_activity>900s"], LONG_AGO, None, None, None)
    body = release_notice(
        holder="BlueLake",
        actor="RedFox",
        reservation_id=7,
        pattern="src/**",
        project_key="/work/app",
        verdict=verdict,
        note="Need it for the release.\nThanks!",
    )
    assert body.startswith("Hello BlueLake,\n\nRedFox released your file reservation #7 on `src/**`")
    assert "- `agent_inactive>1800s`\n- `no_recent_mail_activity>900s`" in body
    assert "- your last mail sent, read or acknowledged: none found" in body
    assert "> Need it for the release.\n> Thanks!" in body
    assert '(project_key "/work/app", paths ["src/**"])' in body and body.endswith("\n")
