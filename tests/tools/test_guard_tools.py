"""install_precommit_guard / uninstall_precommit_guard through an in-memory MCP client and real Git commits."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy.engine import make_url

from gitrepo import run_git
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.services.identity.auth import BINDINGS
from mcp_agent_mail.services.reservations.guard_install import PLUGIN_NAME, read_plugin


@pytest.fixture
def repo(code_repo: Path) -> Path:
    """A Git work tree with one commit (src/app.py, README.md)."""
    return code_repo


def assert_no_password_in(hooks: Path) -> None:
    """Check that no hook file under ``hooks`` holds DATABASE_URL's password (PostgreSQL hooks name a password file)."""
    password = make_url(get_settings().database.url).password
    plugin = read_plugin(hooks / "hooks.d" / "pre-commit" / PLUGIN_NAME)
    if password is None:
        assert set(plugin) == {"database_path", "project_slug"}
        return
    assert set(plugin) == {"database_url", "passfile", "project_slug"}
    assert urlsplit(plugin["database_url"]).password is None and "password" not in plugin["database_url"]
    for path in hooks.rglob("*"):
        if path.is_file():
            assert f":{password}@" not in path.read_text(errors="replace"), path
    passfile = Path(plugin["passfile"])
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600 and passfile.read_text().endswith(f":{password}\n")


def commit_as(repo: Path, agent: str, file: str, text: str) -> subprocess.CompletedProcess[str]:
    """Change ``file`` and try to commit it as ``agent``."""
    (repo / file).write_text(text)
    run_git(repo, "add", file)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_MAIL_")}
    env["AGENT_NAME"] = agent
    return run_git(repo, "commit", "-q", "-m", f"{agent} edits {file}", env=env)


async def test_installed_guard_refuses_commits_on_files_another_agent_reserved(isolated_env, repo):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": str(repo)})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": str(repo), "program": "p", "model": "m", "name": name})
        installed = (
            await c.call_tool("install_precommit_guard", {"project_key": str(repo), "code_repo_path": str(repo)})
        ).data
        hook = Path(installed["hook"])
        assert hook.is_absolute() and hook.name == "pre-commit" and os.access(hook, os.X_OK)
        assert_no_password_in(hook.parent)
        await c.call_tool(
            "file_reservation_paths",
            {"project_key": str(repo), "agent_name": "BlueLake", "paths": ["src/**"], "reason": "refactor"},
        )

        refused = commit_as(repo, "RedFox", "src/app.py", "print('red')\n")
        assert refused.returncode != 0
        assert "src/app.py" in refused.stderr and "BlueLake" in refused.stderr
        assert run_git(repo, "log", "--format=%s", "-1").stdout.strip() == "initial"
        run_git(repo, "reset", "-q", "src/app.py")  # unstage the refused change

        assert commit_as(repo, "RedFox", "README.md", "red readme\n").returncode == 0  # not reserved
        assert commit_as(repo, "BlueLake", "src/app.py", "print('blue')\n").returncode == 0  # its own lease

        await c.call_tool("release_file_reservations", {"project_key": str(repo), "agent_name": "BlueLake"})
        assert commit_as(repo, "RedFox", "src/app.py", "print('red again')\n").returncode == 0

        args = {"project_key": str(repo), "code_repo_path": str(repo)}
        removed = (await c.call_tool("uninstall_precommit_guard", args)).data
        assert removed == {"removed": True, "verified": False}  # trusted mode: no proof asked for
        assert not hook.exists()
        again = (await c.call_tool("uninstall_precommit_guard", args)).data
        assert again["removed"] is False


async def test_trusted_mode_removes_the_guard_given_only_the_repo_as_the_original_tool_did(isolated_env, repo):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": str(repo)})
        hook = Path(
            (
                await c.call_tool("install_precommit_guard", {"project_key": str(repo), "code_repo_path": str(repo)})
            ).data["hook"]
        )
        assert hook.exists()
        removed = (await c.call_tool("uninstall_precommit_guard", {"code_repo_path": str(repo)})).data
        assert removed["removed"] is True
        assert not hook.exists()


async def test_bad_targets_are_refused_with_a_code_and_nothing_is_written(isolated_env, repo, tmp_path):
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": str(repo)})
        cases = [
            ({"project_key": "/nowhere/project", "code_repo_path": str(repo)}, r"^NOT_FOUND"),
            ({"project_key": str(repo), "code_repo_path": str(tmp_path / "missing")}, r"^NOT_FOUND"),
            ({"project_key": str(repo), "code_repo_path": str(plain)}, r"^INVALID_ARGUMENT"),
        ]
        for args, code in cases:
            with pytest.raises(ToolError, match=code):
                await c.call_tool("install_precommit_guard", args)
    assert not (repo / ".git" / "hooks" / "hooks.d").exists()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert list(plain.iterdir()) == []


async def test_strict_mode_installs_only_for_someone_speaking_for_the_project(isolated_env, repo, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    BINDINGS.clear()
    server = build_mcp_server()
    async with Client(server, mode="legacy") as owner:
        await owner.call_tool("ensure_project", {"human_key": str(repo)})
        blue = (
            await owner.call_tool(
                "create_agent_identity",
                {"project_key": str(repo), "program": "p", "model": "m", "name_hint": "BlueLake"},
            )
        ).data
    args = {"project_key": str(repo), "code_repo_path": str(repo)}
    async with Client(server, mode="legacy") as stranger:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await stranger.call_tool("install_precommit_guard", args)
        assert not (repo / ".git" / "hooks" / "pre-commit").exists()
        done = (
            await stranger.call_tool(
                "install_precommit_guard", {**args, "registration_token": blue["registration_token"]}
            )
        ).data
        assert done["verified"] is True and Path(done["hook"]).exists()
    BINDINGS.clear()


async def test_strict_mode_removes_the_guard_only_for_someone_speaking_for_the_project(isolated_env, repo, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    BINDINGS.clear()
    server = build_mcp_server()
    args = {"project_key": str(repo), "code_repo_path": str(repo)}
    async with Client(server, mode="legacy") as owner:
        await owner.call_tool("ensure_project", {"human_key": str(repo)})
        blue = (
            await owner.call_tool(
                "create_agent_identity",
                {"project_key": str(repo), "program": "p", "model": "m", "name_hint": "BlueLake"},
            )
        ).data
        hook = Path((await owner.call_tool("install_precommit_guard", args)).data["hook"])
    plugin = repo / ".git" / "hooks" / "hooks.d" / "pre-commit" / "50-agent-mail.py"
    assert hook.exists() and plugin.exists()
    async with Client(server, mode="legacy") as stranger:
        for attempt in (args, {"code_repo_path": str(repo)}, {**args, "registration_token": "not-a-token"}):
            with pytest.raises(ToolError, match=r"^(UNAUTHORIZED|INVALID_ARGUMENT)") as refused:
                await stranger.call_tool("uninstall_precommit_guard", attempt)
            assert "project_key" in str(refused.value) or str(refused.value).startswith("UNAUTHORIZED")
            assert hook.exists() and plugin.exists()
        done = (
            await stranger.call_tool(
                "uninstall_precommit_guard", {**args, "registration_token": blue["registration_token"]}
            )
        ).data
        assert done == {"removed": True, "verified": True}
        assert not hook.exists() and not plugin.exists()
    BINDINGS.clear()


async def test_a_project_cannot_remove_the_guard_another_project_installed(isolated_env, repo, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    async with Client(build_mcp_server()) as c:
        for key in (str(repo), str(other)):
            await c.call_tool("ensure_project", {"human_key": key})
        hook = Path(
            (
                await c.call_tool("install_precommit_guard", {"project_key": str(repo), "code_repo_path": str(repo)})
            ).data["hook"]
        )
        slug = (await c.call_tool("ensure_project", {"human_key": str(repo)})).data["slug"]
        with pytest.raises(ToolError, match=rf"^INVALID_ARGUMENT: The guard in .* belongs to project '{slug}'"):
            await c.call_tool("uninstall_precommit_guard", {"project_key": str(other), "code_repo_path": str(repo)})
        assert hook.exists()
        with pytest.raises(ToolError, match=r"^NOT_FOUND"):
            await c.call_tool("uninstall_precommit_guard", {"project_key": "/nowhere", "code_repo_path": str(repo)})
        assert hook.exists()
