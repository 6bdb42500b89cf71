"""``guard install | status | uninstall | check`` through Typer's CliRunner on real repositories."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from gitrepo import run_git
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.services.identity.projects import get_project
from mcp_agent_mail.services.reservations.guard import mailbox_target
from mcp_agent_mail.services.reservations.guard_install import PostgresTarget

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


def mailbox_lines() -> list[str]:
    """What ``guard status`` says about the mailbox the hooks read (the SQLite file, or PostgreSQL and its password)."""
    target = mailbox_target()
    if isinstance(target, PostgresTarget):
        return [f"Mailbox database: {target.url}", f"Password file: {target.passfile}"]
    return [f"Mailbox database: {target}"]


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_install_status_uninstall(repo, isolated_env, monkeypatch):
    hooks = repo / ".git" / "hooks"
    monkeypatch.chdir(repo)
    installed = invoke("install", str(repo), ".", "--prepush")
    assert installed.exit_code == 0, installed.output
    assert f"Installed guard for {repo} at {hooks / 'pre-commit'}" in installed.output
    assert mailbox_lines()[0] in installed.output
    password = make_url(get_settings().database.url).password
    for plugin in (hooks / "hooks.d").rglob("50-agent-mail.py"):
        assert password is None or f":{password}@" not in plugin.read_text()
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
    for line in mailbox_lines():
        assert f"{line}\n" in status.output
    assert "missing" not in status.output
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


def test_check_refuses_when_the_mailbox_cannot_be_read(repo, tmp_path, monkeypatch):
    url = make_url(get_settings().database.url)
    if url.drivername.startswith("sqlite"):
        gone = tmp_path / "gone.sqlite3"
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{gone}")
        expected = f"cannot read the mailbox at {gone}: the file does not exist"
    else:
        port = closed_port()
        monkeypatch.setenv("DATABASE_URL", url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False))
        expected = f"cannot read the mailbox at postgresql://{url.username}@127.0.0.1:{port}/{url.database}: "
    clear_settings_cache()
    refused = invoke("check", "--repo", str(repo), input="src/app.py\n")
    assert refused.exit_code == 1
    assert expected in refused.output and "Traceback" not in refused.output
    assert url.password is None or f":{url.password}@" not in refused.output
    advisory = invoke("check", "--advisory", "--repo", str(repo), input="src/app.py\n")
    assert advisory.exit_code == 0 and expected in advisory.output
    if url.drivername.startswith("sqlite"):
        assert not gone.exists()
