"""``integrate`` installs the reminder hook (``mail status``) in Claude Code, Codex CLI and Gemini CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from integrate_homes import CLAUDE_JSON, CODEX_TOML, GEMINI_JSON, FakeMachine, snapshot

from mcp_agent_mail.services.integrate.files import backup_path
from mcp_agent_mail.services.integrate.jsonc import parse
from mcp_agent_mail.services.integrate.run import Outcome, Report, Request, integrate

# Claude Code's user settings with hooks of its own: a prompt hook to keep, and a tool hook.
CLAUDE_SETTINGS = """{
  "permissions": {
    "allow": ["Bash(git status)"]
  },
  "hooks": {
    "UserPromptSubmit": [
      {
        "hooks": [
          {"type": "command", "command": "~/bin/remind-me.sh"}
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [{"type": "command", "command": "~/bin/check-bash.sh", "timeout": 5}]
      }
    ]
  }
}
"""


def run(fake: FakeMachine, *clients: str, **options: Any) -> Report:
    request = Request(clients=tuple(clients), command=fake.command, **options)
    return integrate(request, data_dir=fake.data_dir, machine=fake.machine())


def hooks_of(report: Report) -> dict[str, Outcome]:
    return {o.client: o for o in report.outcomes if o.kind == "hook"}


def load(path: Path) -> dict:
    doc = parse(path.read_text(), source=str(path))
    return doc.value(doc.root)


def claude_settings(fake: FakeMachine, text: str | None = CLAUDE_SETTINGS) -> Path:
    fake.write("claude-code", CLAUDE_JSON)
    path = fake.home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        path.write_text(text)
    return path


def commands(groups: list[dict]) -> list[str]:
    return [handler["command"] for group in groups for handler in group["hooks"]]


def test_claude_code_gets_a_session_and_a_prompt_hook_beside_its_own(fake: FakeMachine) -> None:
    path = claude_settings(fake)
    report = run(fake, "claude-code", agent="BlueLake")
    assert hooks_of(report)["claude-code"].status == "added"
    assert hooks_of(report)["claude-code"].path == path
    hooks = load(path)["hooks"]
    prompt = commands(hooks["UserPromptSubmit"])
    assert prompt[0] == "~/bin/remind-me.sh"
    assert prompt[1] == (
        f"MCP_AGENT_MAIL_HOME={fake.data_dir} {fake.command} mail status --agent BlueLake --hook UserPromptSubmit"
    )
    assert commands(hooks["SessionStart"]) == [prompt[1].replace("UserPromptSubmit", "SessionStart")]
    assert hooks["UserPromptSubmit"][1]["hooks"][0]["timeout"] == 10
    assert hooks["PreToolUse"] == json.loads(CLAUDE_SETTINGS)["hooks"]["PreToolUse"]
    assert load(path)["permissions"] == {"allow": ["Bash(git status)"]}


def test_a_second_run_changes_nothing_and_undo_restores_the_bytes(fake: FakeMachine) -> None:
    path = claude_settings(fake)
    run(fake, "claude-code")
    written = path.read_bytes()
    again = run(fake, "claude-code")
    assert hooks_of(again)["claude-code"].status == "already present" and not again.changed
    assert path.read_bytes() == written
    undone = run(fake, "claude-code", undo=True)
    assert hooks_of(undone)["claude-code"].status == "removed"
    assert path.read_text() == CLAUDE_SETTINGS
    assert not backup_path(path).exists()
    assert hooks_of(run(fake, "claude-code", undo=True))["claude-code"].status == "not present"


def test_a_settings_file_created_for_the_hook_is_deleted_by_undo(fake: FakeMachine) -> None:
    path = claude_settings(fake, text=None)
    run(fake, "claude-code")
    assert set(load(path)["hooks"]) == {"SessionStart", "UserPromptSubmit"}
    run(fake, "claude-code", undo=True)
    assert not path.exists() and path.parent.is_dir()


def test_undo_after_the_user_added_a_hook_removes_only_ours(fake: FakeMachine) -> None:
    path = claude_settings(fake)
    run(fake, "claude-code")
    data = load(path)
    data["hooks"]["Stop"] = [{"hooks": [{"type": "command", "command": "~/bin/done.sh"}]}]
    path.write_text(json.dumps(data, indent=2) + "\n")
    run(fake, "claude-code", undo=True)
    hooks = load(path)["hooks"]
    assert commands(hooks["UserPromptSubmit"]) == ["~/bin/remind-me.sh"]
    assert "SessionStart" not in hooks
    assert commands(hooks["Stop"]) == ["~/bin/done.sh"]


def test_gemini_keeps_servers_and_hooks_in_one_file_and_undo_restores_it(fake: FakeMachine) -> None:
    path = fake.write("gemini", GEMINI_JSON)
    report = run(fake, "gemini")
    assert {o.kind: o.status for o in report.outcomes} == {"server": "added", "hook": "added"}
    data = load(path)
    assert "mcp-agent-mail" in data["mcpServers"]
    handler = data["hooks"]["BeforeAgent"][0]["hooks"][0]
    assert handler["name"] == "mcp-agent-mail" and handler["timeout"] == 10000
    assert handler["command"].endswith("mail status --hook BeforeAgent")
    assert "\t// picked at first start\n" in path.read_text()
    assert any("Gemini CLI" in note for note in report.notes)
    undone = run(fake, "gemini", undo=True)
    assert {o.kind: o.status for o in undone.outcomes} == {"server": "removed", "hook": "removed"}
    assert path.read_text() == GEMINI_JSON


def test_codex_gets_a_hooks_file_and_a_note_on_its_feature_switch(fake: FakeMachine) -> None:
    config = fake.write("codex", CODEX_TOML)
    report = run(fake, "codex")
    hooks_file = config.parent / "hooks.json"
    assert hooks_of(report)["codex"].path == hooks_file
    handler = load(hooks_file)["hooks"]["UserPromptSubmit"][0]["hooks"][0]
    assert handler == {"type": "command", "command": handler["command"], "timeoutSec": 10}
    assert any("`notify` program is not used" in note for note in report.notes)
    run(fake, "codex", undo=True)
    assert not hooks_file.exists()
    assert config.read_text() == CODEX_TOML


def test_project_hooks_name_the_project(fake: FakeMachine) -> None:
    project = fake.root / "repo"
    project.mkdir()
    fake.executable("claude")
    run(fake, "claude-code", project=project)
    settings = project / ".claude" / "settings.json"
    command = commands(load(settings)["hooks"]["UserPromptSubmit"])[0]
    assert f"mail status --project {project} --hook UserPromptSubmit" in command


def test_no_hooks_and_clients_without_hooks(fake: FakeMachine) -> None:
    claude_settings(fake, text=None)
    fake.executable("cursor")
    report = run(fake, "claude-code", "cursor", hooks=False)
    assert hooks_of(report) == {}
    assert not (fake.home / ".claude" / "settings.json").exists()
    report = run(fake, "cursor")
    assert hooks_of(report) == {}
    assert any(note.startswith("No reminder hook for Cursor:") for note in report.notes)


def test_dry_run_shows_the_hook_diff_and_writes_nothing(fake: FakeMachine) -> None:
    path = claude_settings(fake)
    before = snapshot({"settings": path})
    report = run(fake, "claude-code", dry_run=True)
    outcome = hooks_of(report)["claude-code"]
    assert outcome.status == "added" and "+" in outcome.diff and "mail status" in outcome.diff
    assert snapshot({"settings": path}) == before


def test_a_hooks_key_that_is_not_an_object_is_an_error_and_the_server_entry_stays(fake: FakeMachine) -> None:
    path = claude_settings(fake, text='{"hooks": []}\n')
    report = run(fake, "claude-code")
    assert {o.kind: o.status for o in report.outcomes} == {"server": "added", "hook": "error"}
    assert "'hooks' is not a JSON object" in hooks_of(report)["claude-code"].detail
    assert report.exit_code == 1
    assert path.read_text() == '{"hooks": []}\n'
