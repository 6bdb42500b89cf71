"""``integrate`` end to end on a fake HOME holding every client's real-world-looking configuration."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from integrate_homes import CLAUDE_JSON, CURSOR_JSON, WINDSURF_JSON, FakeMachine, mode, snapshot

from mcp_agent_mail.services.integrate.bearer import token_path
from mcp_agent_mail.services.integrate.files import backup_path
from mcp_agent_mail.services.integrate.jsonc import parse
from mcp_agent_mail.services.integrate.registry import client_names
from mcp_agent_mail.services.integrate.run import Report, Request, integrate


def run(fake: FakeMachine, *clients: str, **options: object) -> Report:
    request = Request(clients=tuple(clients), command=fake.command, **options)  # type: ignore[arg-type]
    return integrate(request, data_dir=fake.data_dir, machine=fake.machine())


def statuses(report: Report) -> dict[str, str]:
    return {o.client: o.status for o in report.outcomes if o.kind == "server"}


def load(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".toml":
        return tomllib.loads(text)
    doc = parse(text, source=str(path))
    return doc.value(doc.root)


def servers(name: str, path: Path) -> dict:
    data = load(path)
    if name == "codex":
        return data["mcp_servers"]
    if name == "opencode":
        return data["mcp"]
    if name == "vscode":
        return data["servers"]
    return data["mcpServers"]


def test_adds_to_every_client_keeping_everything_else(fake: FakeMachine) -> None:
    files = fake.seed_all()
    before = {name: load(path) for name, path in files.items()}
    report = run(fake)
    assert statuses(report) == dict.fromkeys(client_names(), "added")
    assert report.exit_code == 0
    for name, path in files.items():
        after = load(path)
        entries = servers(name, path)
        assert "mcp-agent-mail" in entries, name
        # every other top-level setting and every other server is still there, unchanged
        for key, value in before[name].items():
            if isinstance(value, dict) and key in ("mcpServers", "mcp_servers", "mcp", "servers"):
                for other, config in value.items():
                    assert entries[other] == config, (name, other)
            else:
                assert after[key] == value, (name, key)
    assert backup_path(files["claude-code"]).read_bytes() == CLAUDE_JSON.encode()


def test_entries_carry_the_command_and_the_data_directory(fake: FakeMachine) -> None:
    files = fake.seed_all()
    run(fake)
    home = str(fake.data_dir)
    claude = servers("claude-code", files["claude-code"])["mcp-agent-mail"]
    assert claude == {"type": "stdio", "command": fake.command, "args": ["stdio"], "env": {"MCP_AGENT_MAIL_HOME": home}}
    codex = servers("codex", files["codex"])["mcp-agent-mail"]
    assert codex == {"command": fake.command, "args": ["stdio"], "env": {"MCP_AGENT_MAIL_HOME": home}}
    opencode = servers("opencode", files["opencode"])["mcp-agent-mail"]
    env = {"MCP_AGENT_MAIL_HOME": home}
    assert opencode == {"type": "local", "command": [fake.command, "stdio"], "environment": env}
    for name in ("cursor", "gemini", "cline", "windsurf"):
        entry = servers(name, files[name])["mcp-agent-mail"]
        assert entry["env"] == {"MCP_AGENT_MAIL_HOME": home} and entry["args"] == ["stdio"], name


def test_comments_formatting_and_line_endings_survive(fake: FakeMachine) -> None:
    files = fake.seed_all()
    run(fake)
    cursor = files["cursor"].read_text()
    assert "// Servers for every project" in cursor and "}, // browser automation" in cursor
    assert '\n        "mcp-agent-mail": {\n            "command"' in cursor  # four-space indentation followed
    assert cursor.rstrip().endswith("},\n    },\n}")  # trailing-comma style followed
    gemini = files["gemini"].read_text()
    assert "\t// picked at first start\n" in gemini and '\n\t"mcpServers": {\n\t\t"mcp-agent-mail"' in gemini
    for crlf in ("cline", "vscode"):
        data = files[crlf].read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n"), crlf
    assert b"/* the docs server */" in files["vscode"].read_bytes()
    codex = files["codex"].read_text()
    assert "# Codex settings" in codex and "# docs lookups" in codex and "[profiles.fast]" in codex
    assert "[mcp_servers.mcp-agent-mail]" in codex


def test_second_run_changes_nothing(fake: FakeMachine) -> None:
    files = fake.seed_all()
    run(fake)
    first = snapshot(files)
    stamps = {name: path.stat().st_mtime_ns for name, path in files.items()}
    again = run(fake)
    assert statuses(again) == dict.fromkeys(client_names(), "already present")
    assert not again.changed
    assert snapshot(files) == first
    assert {name: path.stat().st_mtime_ns for name, path in files.items()} == stamps


def test_dry_run_writes_nothing_and_shows_a_diff(fake: FakeMachine) -> None:
    files = fake.seed_all()
    before = snapshot(files)
    report = run(fake, dry_run=True)
    assert snapshot(files) == before
    assert not fake.data_dir.exists()
    assert not any(backup_path(path).exists() for path in files.values())
    by_client = {o.client: o for o in report.outcomes if o.kind == "server"}
    diff = by_client["windsurf"].diff
    assert diff.startswith("--- a/~/.codeium/windsurf/mcp_config.json\n+++ b/~/.codeium/windsurf/mcp_config.json\n")
    assert '+    "mcp-agent-mail": {\n' in diff and '-      "env": {}\n' not in diff
    assert all(o.status == "added" and o.diff for o in report.outcomes)


def test_undo_restores_every_file_byte_for_byte(fake: FakeMachine) -> None:
    files = fake.seed_all()
    original = snapshot(files)
    run(fake)
    undone = run(fake, undo=True)
    assert statuses(undone) == dict.fromkeys(client_names(), "removed")
    assert snapshot(files) == original
    assert not any(backup_path(path).exists() for path in files.values())
    assert statuses(run(fake, undo=True)) == dict.fromkeys(client_names(), "not present")


def test_undo_after_other_changes_removes_only_its_entry(fake: FakeMachine) -> None:
    path = fake.write("windsurf", WINDSURF_JSON)
    run(fake, "windsurf")
    edited = path.read_text().replace('"disabled": true', '"disabled": false')
    path.write_text(edited)
    assert statuses(run(fake, "windsurf", undo=True)) == {"windsurf": "removed"}
    assert path.read_text() == WINDSURF_JSON.replace('"disabled": true', '"disabled": false')
    assert backup_path(path).read_text() == edited


def test_update_then_undo_still_restores_the_first_original(fake: FakeMachine) -> None:
    path = fake.write("cursor", CURSOR_JSON)
    run(fake, "cursor")
    newer = fake.executable("mcp-agent-mail-2")
    report = integrate(Request(("cursor",), command=str(newer)), data_dir=fake.data_dir, machine=fake.machine())
    assert statuses(report) == {"cursor": "updated"}
    assert servers("cursor", path)["mcp-agent-mail"]["command"] == str(newer)
    run(fake, "cursor", undo=True)
    assert path.read_text() == CURSOR_JSON


def test_a_user_setting_on_the_entry_is_kept(fake: FakeMachine) -> None:
    path = fake.write("cline", '{"mcpServers": {}}')
    run(fake, "cline")
    data = json.loads(path.read_text())
    data["mcpServers"]["mcp-agent-mail"]["autoApprove"] = ["fetch_inbox"]
    path.write_text(json.dumps(data, indent=2))
    assert statuses(run(fake, "cline")) == {"cline": "already present"}
    report = run(fake, "cline", http_url="http://127.0.0.1:8765/mcp/")
    assert statuses(report) == {"cline": "updated"}
    entry = servers("cline", path)["mcp-agent-mail"]
    assert entry["autoApprove"] == ["fetch_inbox"] and entry["type"] == "streamableHttp"
    assert "command" not in entry and "env" not in entry


def test_clients_found_by_executable_get_a_new_file_which_undo_deletes(fake: FakeMachine) -> None:
    fake.executable("cursor")
    fake.executable("droid")
    report = run(fake)
    assert statuses(report)["cursor"] == "added" and statuses(report)["factory-droid"] == "added"
    cursor = fake.config("cursor")
    assert servers("cursor", cursor)["mcp-agent-mail"]["command"] == fake.command
    assert mode(cursor) == 0o644
    run(fake, undo=True)
    assert not cursor.exists() and not cursor.parent.exists()
    assert not fake.config("factory-droid").parent.exists()


def test_clients_that_are_not_installed_are_reported_not_guessed(fake: FakeMachine) -> None:
    fake.write("windsurf", WINDSURF_JSON)
    report = run(fake)
    outcome = {o.client: o for o in report.outcomes if o.kind == "server"}
    assert outcome["windsurf"].status == "added"
    assert outcome["cursor"].status == "not found"
    assert outcome["cursor"].detail == "no ~/.cursor, no `cursor` on PATH, no `cursor-agent` on PATH"
    assert not outcome["cursor"].failed and report.exit_code == 0
    assert not (fake.home / ".cursor").exists()


def test_naming_a_missing_client_fails(fake: FakeMachine) -> None:
    fake.write("windsurf", WINDSURF_JSON)
    report = run(fake, "windsurf", "gemini")
    assert statuses(report) == {"windsurf": "added", "gemini": "not found"}
    assert report.exit_code == 1


def test_a_broken_file_is_reported_and_left_alone(fake: FakeMachine) -> None:
    files = fake.seed_all()
    broken = '{\n  "mcpServers": {\n    "github": {"url": "x"}\n'
    files["claude-code"].write_text(broken)
    report = run(fake)
    outcome = {o.client: o for o in report.outcomes if o.kind == "server"}
    assert outcome["claude-code"].status == "error" and outcome["claude-code"].failed
    assert outcome["claude-code"].detail.startswith("CONFIGURATION_ERROR: ~/.claude.json is not valid JSON")
    assert files["claude-code"].read_text() == broken
    assert outcome["cursor"].status == "added" and report.exit_code == 1


def test_comments_in_a_plain_json_client_are_refused(fake: FakeMachine) -> None:
    text = '{\n  // note\n  "mcpServers": {}\n}\n'
    path = fake.write("claude-code", text)
    report = run(fake, "claude-code")
    assert report.outcomes[0].status == "error"
    assert "a comment (this client reads plain JSON) at line 2, column 3" in report.outcomes[0].detail
    assert path.read_text() == text


def test_http_entries_carry_a_token_kept_readable_by_the_user_only(fake: FakeMachine) -> None:
    files = fake.seed_all()
    url = "http://127.0.0.1:8765/mcp/"
    report = run(fake, http_url=url)
    token_file = token_path(fake.data_dir)
    assert report.token_created and report.token_file == token_file
    assert mode(token_file) == 0o600
    token = token_file.read_text().strip()
    bearer = {"Authorization": f"Bearer {token}"}
    assert servers("claude-code", files["claude-code"])["mcp-agent-mail"] == {
        "type": "http",
        "url": url,
        "headers": bearer,
    }
    assert servers("codex", files["codex"])["mcp-agent-mail"] == {"url": url, "http_headers": bearer}
    assert servers("gemini", files["gemini"])["mcp-agent-mail"] == {"httpUrl": url, "headers": bearer}
    assert servers("windsurf", files["windsurf"])["mcp-agent-mail"] == {"serverUrl": url, "headers": bearer}
    assert servers("opencode", files["opencode"])["mcp-agent-mail"] == {"type": "remote", "url": url, "headers": bearer}
    assert mode(files["claude-code"]) == 0o600  # the file's own mode is kept
    again = run(fake, http_url=url)
    assert not again.token_created and token_file.read_text().strip() == token
    assert statuses(again) == dict.fromkeys(client_names(), "already present")


def test_project_level_files(fake: FakeMachine) -> None:
    project = fake.root / "repo"
    project.mkdir()
    fake.executable("claude")
    fake.executable("cursor")
    fake.executable("code")
    fake.executable("gemini")
    fake.executable("codex")
    fake.write("windsurf", WINDSURF_JSON)
    report = run(fake, project=project)
    by_client = {o.client: o for o in report.outcomes if o.kind == "server"}
    expected = {
        "claude-code": project / ".mcp.json",
        "cursor": project / ".cursor" / "mcp.json",
        "vscode": project / ".vscode" / "mcp.json",
        "gemini": project / ".gemini" / "settings.json",
        "codex": project / ".codex" / "config.toml",
        "windsurf": fake.config("windsurf"),
    }
    for name, path in expected.items():
        assert by_client[name].status == "added" and by_client[name].path == path, name
        assert "mcp-agent-mail" in servers(name, path)
    assert "Windsurf: no project-level file; the user-level file is used." in report.notes
    assert not (fake.home / ".claude.json").exists()
    run(fake, project=project, undo=True)
    assert sorted(p.name for p in project.iterdir()) == []


def test_opencode_files_that_keep_servers_under_mcp_servers(fake: FakeMachine) -> None:
    text = '{\n  "mcp": {\n    "servers": {\n      "x": {"type": "remote", "url": "https://x/mcp"}\n    }\n  }\n}\n'
    path = fake.write("opencode", text)
    run(fake, "opencode")
    assert "mcp-agent-mail" in load(path)["mcp"]["servers"]
    run(fake, "opencode", undo=True)
    assert path.read_text() == text


def test_a_symlinked_config_is_edited_where_it_points(fake: FakeMachine) -> None:
    dotfiles = fake.root / "dotfiles" / "claude.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(CLAUDE_JSON)
    (fake.home / ".claude.json").symlink_to(dotfiles)
    run(fake, "claude-code")
    assert (fake.home / ".claude.json").is_symlink()
    assert "mcp-agent-mail" in json.loads(dotfiles.read_text())["mcpServers"]
    run(fake, "claude-code", undo=True)
    assert dotfiles.read_text() == CLAUDE_JSON and (fake.home / ".claude.json").is_symlink()


def test_a_file_created_here_becomes_private_once_it_holds_a_token(fake: FakeMachine) -> None:
    fake.executable("gemini")
    run(fake, "gemini")
    path = fake.config("gemini")
    assert mode(path) == 0o644
    run(fake, "gemini", http_url="http://127.0.0.1:8765/mcp/")
    assert mode(path) == 0o600


def test_tokens_in_project_files_come_with_a_warning(fake: FakeMachine) -> None:
    project = fake.root / "repo"
    project.mkdir()
    fake.executable("claude")
    report = run(fake, "claude-code", project=project, http_url="http://127.0.0.1:8765/mcp/")
    assert report.notes == ["The bearer token is now in project files: keep them out of version control."]
    assert mode(project / ".mcp.json") == 0o600
