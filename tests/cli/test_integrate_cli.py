"""``mcp-agent-mail integrate`` through Typer's CliRunner on a fake HOME."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mcp_agent_mail import cli
from mcp_agent_mail.config import clear_settings_cache

runner = CliRunner()

CURSOR = '{\n  // mine\n  "mcpServers": {\n    "playwright": {"command": "npx", "args": ["-y"]},\n  },\n}\n'


def _app() -> typer.Typer:
    return cli.app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text(CURSOR)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mcp-agent-mail"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    clear_settings_cache()
    yield home
    clear_settings_cache()


def invoke(*args: str) -> Any:
    return runner.invoke(_app(), ["integrate", *args])


def test_adds_reports_and_is_idempotent(home: Path) -> None:
    first = invoke()
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert "added: cursor ~/.cursor/mcp.json" in lines
    assert "not found: windsurf (no ~/.codeium/windsurf, no `windsurf` on PATH)" in lines
    assert "Restart the clients (or reload their MCP servers) to pick up mcp-agent-mail." in lines
    written = (home / ".cursor" / "mcp.json").read_bytes()
    assert b"// mine" in written and b'"mcp-agent-mail"' in written and str(home.parent / "bin").encode() in written
    second = invoke()
    assert second.exit_code == 0
    assert "already present: cursor ~/.cursor/mcp.json" in second.output.splitlines()
    assert "Nothing to change: every client found already has mcp-agent-mail." in second.output
    assert (home / ".cursor" / "mcp.json").read_bytes() == written


def test_dry_run_prints_a_diff_and_writes_nothing(home: Path) -> None:
    result = invoke("cursor", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would add: cursor ~/.cursor/mcp.json" in result.output
    assert "--- a/~/.cursor/mcp.json\n+++ b/~/.cursor/mcp.json\n" in result.output
    assert '+    "mcp-agent-mail": {\n' in result.output
    assert "Dry run: nothing was written." in result.output
    assert (home / ".cursor" / "mcp.json").read_text() == CURSOR
    assert not (home.parent / "data").exists()


def test_undo_restores_the_file(home: Path) -> None:
    assert invoke("cursor").exit_code == 0
    undone = invoke("cursor", "--undo")
    assert undone.exit_code == 0, undone.output
    assert "removed: cursor ~/.cursor/mcp.json (restored the file as it was)" in undone.output
    assert (home / ".cursor" / "mcp.json").read_text() == CURSOR
    again = invoke("--undo")
    assert "not present: cursor ~/.cursor/mcp.json" in again.output
    assert "Nothing to remove: no client has an mcp-agent-mail entry." in again.output


def test_http_prints_how_to_start_the_server_with_the_token(home: Path) -> None:
    result = invoke("cursor", "--http", "http://127.0.0.1:9000/mcp/")
    assert result.exit_code == 0, result.output
    token_file = home.parent / "data" / "http_bearer_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert f'"Authorization": "Bearer {token}"' in (home / ".cursor" / "mcp.json").read_text()
    assert f"Bearer token created in {token_file} (readable by you only)." in result.output
    expected = f'HTTP_BEARER_TOKEN="$(cat {token_file})" mcp-agent-mail serve --host 127.0.0.1 --port 9000 --path /mcp/'
    assert expected in result.output


def test_a_named_client_that_is_missing_fails(home: Path) -> None:
    result = invoke("cursor", "gemini")
    assert result.exit_code == 1
    assert "not found: gemini (no ~/.gemini, no `gemini` on PATH)" in result.output


def test_bad_input_is_a_coded_error_that_changes_nothing(home: Path) -> None:
    unknown = invoke("emacs")
    assert unknown.exit_code == 1
    assert "INVALID_ARGUMENT: Unknown client 'emacs'." in unknown.output
    both = invoke("--stdio", "--http", "http://127.0.0.1:8765/mcp/")
    assert both.exit_code == 1 and "--stdio and --http exclude each other." in both.output
    bad_url = invoke("--http", "ftp://x")
    assert bad_url.exit_code == 1 and "is not an http:// or https:// URL" in bad_url.output
    assert (home / ".cursor" / "mcp.json").read_text() == CURSOR
    assert not (home.parent / "data").exists()


def test_a_broken_file_is_an_error_line(home: Path) -> None:
    (home / ".cursor" / "mcp.json").write_text('{"mcpServers": {')
    result = invoke()
    assert result.exit_code == 1
    error = "error: cursor ~/.cursor/mcp.json: CONFIGURATION_ERROR: ~/.cursor/mcp.json is not valid JSON"
    assert error in result.output


def test_reminder_hooks_are_added_named_and_skippable(home: Path) -> None:
    (home / ".claude").mkdir()
    settings = home / ".claude" / "settings.json"
    result = invoke("claude-code", "cursor", "--agent", "BlueLake")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "added: claude-code reminder hook ~/.claude/settings.json" in lines
    assert any(line.startswith("No reminder hook for Cursor:") for line in lines)
    assert "mail status --agent BlueLake --hook UserPromptSubmit" in settings.read_text()
    undone = invoke("claude-code", "--undo")
    assert "removed: claude-code reminder hook ~/.claude/settings.json (deleted the file it had created)" in (
        undone.output.splitlines()
    )
    skipped = invoke("claude-code", "--no-hooks")
    assert skipped.exit_code == 0 and "reminder hook" not in skipped.output
    assert not settings.exists()
