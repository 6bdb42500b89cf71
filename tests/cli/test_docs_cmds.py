"""``mcp-agent-mail docs insert-blurbs``: the mail section in AGENTS.md / CLAUDE.md, added once, updated in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcp_agent_mail.cli import app
from mcp_agent_mail.services.agent_docs import BEGIN, END, SECTION

runner = CliRunner()

CLAUDE_MD = "# Project notes\n\nRun `make test` before committing.\n"


def insert(*args: str) -> str:
    result = runner.invoke(app, ["docs", "insert-blurbs", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def test_a_repository_without_instructions_gets_an_agents_md(repo: Path) -> None:
    output = insert(str(repo))
    assert output == f"created: {repo / 'AGENTS.md'}\n"
    text = (repo / "AGENTS.md").read_text()
    assert text == SECTION
    for words in ("fetch_inbox", "acknowledge_message", "file_reservation_paths", "register_agent", "mail status"):
        assert words in text


def test_existing_files_keep_their_text_and_a_second_run_changes_nothing(repo: Path) -> None:
    (repo / "CLAUDE.md").write_text(CLAUDE_MD)
    (repo / "GEMINI.md").write_text("Gemini rules.")
    insert(str(repo))
    claude = (repo / "CLAUDE.md").read_text()
    assert claude == CLAUDE_MD + "\n" + SECTION
    assert (repo / "GEMINI.md").read_text() == "Gemini rules.\n\n" + SECTION
    assert not (repo / "AGENTS.md").exists()
    stamp = (repo / "CLAUDE.md").stat().st_mtime_ns
    assert insert(str(repo)) == f"up to date: {repo / 'CLAUDE.md'}\nup to date: {repo / 'GEMINI.md'}\n"
    assert (repo / "CLAUDE.md").stat().st_mtime_ns == stamp


def test_an_old_section_is_replaced_in_place(repo: Path) -> None:
    old = f"# Rules\r\n\r\n{BEGIN}\r\nold advice\r\n{END}\r\n\r\n## More rules\r\n"
    (repo / "AGENTS.md").write_bytes(old.encode())
    assert insert(str(repo)) == f"updated: {repo / 'AGENTS.md'}\n"
    text = (repo / "AGENTS.md").read_bytes().decode()
    assert text == "# Rules\r\n\r\n" + SECTION.replace("\n", "\r\n") + "\r\n## More rules\r\n"


def test_a_file_importing_agents_md_or_linking_to_it_is_skipped(repo: Path, tmp_path: Path) -> None:
    (repo / "AGENTS.md").write_text("# Agents\n")
    (repo / "CLAUDE.md").write_text("@AGENTS.md\n")
    os.symlink("AGENTS.md", repo / "GEMINI.md")
    output = insert(str(repo))
    assert f"skipped: {repo / 'CLAUDE.md'} (it imports AGENTS.md)" in output
    assert f"skipped: {repo / 'GEMINI.md'} (a link to a file already updated)" in output
    assert (repo / "CLAUDE.md").read_text() == "@AGENTS.md\n"
    assert (repo / "AGENTS.md").read_text().count(BEGIN) == 1


def test_dry_run_prints_the_diff_and_writes_nothing(repo: Path) -> None:
    (repo / "CLAUDE.md").write_text(CLAUDE_MD)
    output = insert(str(repo), "--dry-run")
    assert output.startswith(f"would add to: {repo / 'CLAUDE.md'}\n--- a/CLAUDE.md\n+++ b/CLAUDE.md\n")
    assert f"+{BEGIN}\n" in output and output.endswith("Dry run: nothing was written.\n")
    assert (repo / "CLAUDE.md").read_text() == CLAUDE_MD


def test_several_directories_and_the_current_one(repo: Path, tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    insert(str(repo), str(other))
    assert (repo / "AGENTS.md").exists() and (other / "AGENTS.md").exists()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    insert()
    assert (here / "AGENTS.md").read_text() == SECTION


def test_bad_input_is_a_coded_error_and_changes_nothing(repo: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["docs", "insert-blurbs", str(repo), str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert (
        result.output.splitlines()[0]
        == f"INVALID_ARGUMENT: {tmp_path / 'missing'} is not a directory; nothing was changed."
    )
    assert list(repo.iterdir()) == []
    broken = f"{BEGIN}\nhalf a section\n"
    (repo / "AGENTS.md").write_text(broken)
    result = runner.invoke(app, ["docs", "insert-blurbs", str(repo)])
    assert result.exit_code == 1 and result.output.startswith("CONFIGURATION_ERROR: ")
    assert "Hint: Leave one begin marker and one end marker" in result.output
    assert (repo / "AGENTS.md").read_text() == broken
