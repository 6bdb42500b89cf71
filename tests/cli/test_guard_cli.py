"""``guard install | status | uninstall | check`` through Typer's CliRunner on real repositories."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from typer.testing import CliRunner

from gitrepo import run_git
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.cli import app
from mcp_agent_mail.services.identity.projects import get_project

runner = CliRunner()


@pytest.fixture
def repo(isolated_env: dict[str, Path], code_repo: Path) -> Path:
    """A Git work tree with one commit, and a mailbox project for it."""
    path = code_repo

    async def setup() -> None:
        async with Client(build_mcp_server()) as c:
            await c.call_tool("ensure_project", {"human_key": str(path)})
            for name in ("BlueLake", "RedFox"):
                await c.call_tool(
                    "register_agent", {"project_key": str(path), "program": "p", "model": "m", "name": name}
                )
            await c.call_tool(
                "file_reservation_paths",
                {"project_key": str(path), "agent_name": "BlueLake", "paths": ["src/**"], "reason": "refactor"},
            )

    asyncio.run(setup())
    return path


def invoke(*args: str, **kw: Any) -> Any:
    return runner.invoke(app, ["guard", *args], **kw)


def test_install_status_uninstall(repo, isolated_env, monkeypatch):
    hooks = repo / ".git" / "hooks"
    monkeypatch.chdir(repo)
    installed = invoke("install", str(repo), ".", "--prepush")
    assert installed.exit_code == 0, installed.output
    assert f"Installed guard for {repo} at {hooks / 'pre-commit'}" in installed.output
    assert (hooks / "pre-push").is_file() and (hooks / "hooks.d" / "pre-push" / "50-agent-mail.py").is_file()
    (repo / "src" / "app.py").write_text("print('red')\n")
    run_git(repo, "add", "src/app.py")
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "red"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "AGENT_NAME": "RedFox"},
        check=False,
    )
    assert refused.returncode == 1 and "src/app.py" in refused.stderr and "BlueLake" in refused.stderr

    monkeypatch.setenv("AGENT_MAIL_GUARD_MODE", "warn")
    status = invoke("status", str(repo))
    assert status.exit_code == 0, status.output
    assert f"Guard in {hooks}" in status.output.replace("\n", "")
    lines = {line.split()[1]: line for line in status.output.splitlines() if line.startswith("│ pre-")}
    slug = asyncio.run(get_project(str(repo)))["slug"]
    for hook in ("pre-commit", "pre-push"):
        assert "installed" in lines[hook] and "not installed" not in lines[hook] and slug in lines[hook]
    assert f"Mailbox database: {isolated_env['db_path']}\n" in status.output
    assert "AGENT_MAIL_GUARD_MODE: warn" in status.output

    removed = invoke("uninstall", str(repo))
    assert removed.exit_code == 0 and f"Removed the guard from {hooks}" in removed.output
    assert not (hooks / "pre-commit").exists() and not (hooks / "hooks.d").exists()
    again = invoke("uninstall", str(repo))
    assert again.exit_code == 0 and f"No guard installed in {hooks}" in again.output
    after = invoke("status", str(repo))
    assert after.output.count("not installed") == 2


def test_errors_are_coded_and_nothing_is_written(repo, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    cases = [
        (("install", "/nowhere/else", str(repo)), "NOT_FOUND"),
        (("install", str(repo), str(tmp_path / "missing")), "NOT_FOUND"),
        (("install", str(repo), str(plain)), "INVALID_ARGUMENT"),
        (("uninstall", str(plain)), "INVALID_ARGUMENT"),
        (("status", str(tmp_path / "missing")), "NOT_FOUND"),
    ]
    for args, code in cases:
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith(f"{code}: "), (args, result.stderr)
        assert "Hint: " in result.stderr
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert list(plain.iterdir()) == []


def test_check_reports_reserved_paths_from_stdin(repo, monkeypatch):
    monkeypatch.setenv("AGENT_NAME", "RedFox")
    paths = "src/app.py\0README.md\0src/app.py\0"
    refused = invoke("check", "--stdin-nul", "--repo", str(repo), input=paths)
    assert refused.exit_code == 1, refused.output
    assert "src/app.py" in refused.output and "BlueLake" in refused.output
    advisory = invoke("check", "--stdin-nul", "--advisory", "--repo", str(repo), input=paths)
    assert advisory.exit_code == 0 and "src/app.py" in advisory.output
    monkeypatch.chdir(repo)
    clear = invoke("check", input="README.md\ndocs/guide.md\n")
    assert clear.exit_code == 0, clear.output
    monkeypatch.setenv("AGENT_NAME", "bluelake")
    assert invoke("check", input="src/app.py\n").exit_code == 0
