"""The client table: where each agent keeps its servers, and lookup by name."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest
from integrate_homes import FakeMachine

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.integrate import clients as clients_package
from mcp_agent_mail.services.integrate.machine import Machine
from mcp_agent_mail.services.integrate.registry import CLIENTS, client_names, find_client, select


def test_every_client_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules(clients_package.__path__)} - {"base"}
    assert sorted(modules) == sorted(name.replace("-", "_") for name in client_names())


def test_user_and_project_files_on_linux(fake: FakeMachine) -> None:
    machine = fake.machine()
    home, project = fake.home, Path("/repo")
    expected = {
        "claude-code": (home / ".claude.json", project / ".mcp.json"),
        "codex": (home / ".codex/config.toml", project / ".codex/config.toml"),
        "cursor": (home / ".cursor/mcp.json", project / ".cursor/mcp.json"),
        "gemini": (home / ".gemini/settings.json", project / ".gemini/settings.json"),
        "cline": (
            home / ".config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
            None,
        ),
        "windsurf": (home / ".codeium/windsurf/mcp_config.json", None),
        "opencode": (home / ".config/opencode/opencode.json", project / "opencode.json"),
        "vscode": (home / ".config/Code/User/mcp.json", project / ".vscode/mcp.json"),
        "factory-droid": (home / ".factory/mcp.json", project / ".factory/mcp.json"),
    }
    for client in CLIENTS:
        user, project_file = expected[client.name]
        assert client.user_file(machine) == user, client.name
        assert (client.project_file(project) if client.project_file else None) == project_file, client.name


def test_codex_home_and_other_platforms(fake: FakeMachine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_HOME", str(fake.root / "codex-home"))
    assert find_client("codex").user_file(Machine.current()) == fake.root / "codex-home" / "config.toml"
    mac = Machine(home=Path("/Users/me"), config_home=Path("/Users/me/.config"), search_path="", platform="darwin")
    assert find_client("vscode").user_file(mac) == Path("/Users/me/Library/Application Support/Code/User/mcp.json")
    win = Machine(
        home=Path("/c/me"),
        config_home=Path("/c/me/.config"),
        search_path="",
        platform="win32",
        environ={"APPDATA": "/c/me/AppData/Roaming"},
    )
    assert find_client("vscode").user_file(win) == Path("/c/me/AppData/Roaming/Code/User/mcp.json")


def test_names_and_aliases() -> None:
    assert find_client("Claude").name == "claude-code"
    assert find_client("droid").name == "factory-droid"
    assert find_client("copilot").name == "vscode"
    assert [c.name for c in select(["cursor", "Cursor", "codex"])] == ["cursor", "codex"]
    assert len(select([])) == len(CLIENTS)
    with pytest.raises(InvalidArgumentError) as caught:
        find_client("emacs")
    assert caught.value.message == "Unknown client 'emacs'."
    assert "claude-code, codex, cursor" in caught.value.hint
