"""Installing, chaining and removing the guard's hooks in real Git repositories."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from guard_kit import hook_mailbox

from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.reservations.guard import install_precommit_guard, uninstall_precommit_guard
from mcp_agent_mail.services.reservations.guard_install import (
    PostgresTarget,
    chain_runner_script,
    guard_status,
    hooks_dir,
    install_guard,
    plugin_script,
    uninstall_guard,
)


def foreign_hook(path: Path, marker: Path, *, text: str = "") -> str:
    """Write an executable shell hook that appends its arguments and stdin to ``marker``; return its source."""
    source = f'#!/bin/sh\n# {text or "someone else s hook"}\necho "ran $*" >> "{marker}"\ncat >> "{marker}"\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    path.chmod(0o755)
    return source


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``directory`` with its bytes and mode."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def commit(git: Any, repo: Path, file: str = "README.md", **env: str) -> Any:
    """Change ``file`` and commit it with the given extra environment."""
    (repo / file).write_text(f"{(repo / file).read_text() if (repo / file).exists() else ''}more\n")
    git(repo, "add", file)
    return git(repo, "commit", "-q", "-m", f"edit {file}", env={**os.environ, **env})


def install(repo: Path, project: dict[str, Any], isolated_env: dict[str, Path], **kw: Any) -> Path:
    """Install the guard for the test's mailbox (SQLite or PostgreSQL) as ``guard install`` would."""
    return install_guard(repo, mailbox=hook_mailbox(), project_slug=project["slug"], **kw)


def plugin_target(mailbox: Path | PostgresTarget) -> tuple[str, dict[str, Any]]:
    """The mailbox arguments a plugin passes to run_hook, and the matching part of ``guard_status``."""
    if isinstance(mailbox, PostgresTarget):
        passfile = str(mailbox.passfile) if mailbox.passfile else None
        state: dict[str, Any] = {"database_url": mailbox.url}
        if passfile:
            state.update(passfile=passfile, passfile_exists=True)
        return f"database_url={mailbox.url!r}, passfile={passfile!r}", state
    return f"database_path={str(mailbox)!r}", {"database_path": str(mailbox), "database_exists": True}


def test_install_writes_an_executable_runner_and_plugin(repo, project, isolated_env):
    hook = install(repo, project, isolated_env)
    hooks = repo / ".git" / "hooks"
    assert hook == hooks / "pre-commit" and hook.is_absolute()
    plugin = hooks / "hooks.d" / "pre-commit" / "50-agent-mail.py"
    for path in (hook, plugin):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        assert path.read_text().startswith(f"#!{sys.executable}\n")
    assert "mcp-agent-mail chain-runner (pre-commit)" in hook.read_text()
    assert hook.read_text() == chain_runner_script("pre-commit")
    mailbox = hook_mailbox()
    where, state = plugin_target(mailbox)
    assert plugin.read_text() == plugin_script("pre-commit", mailbox, project["slug"])
    assert plugin.read_text().splitlines()[1:] == [
        f"# mcp-agent-mail guard plugin (pre-commit) for project {project['slug']}",
        "import sys",
        "from mcp_agent_mail.guard.hook import run_hook",
        f'sys.exit(run_hook("pre-commit", {where}, project_slug={project["slug"]!r}, argv=sys.argv[1:]))',
    ]
    assert not (hooks / "pre-push").exists() and not (hooks / "hooks.d" / "pre-push").exists()

    status = guard_status(repo)
    assert status["hooks_dir"] == str(hooks) and status["guard_mode"] == "block"
    assert status["hooks"]["pre-commit"] == {
        "installed": True,
        "chained_orig": False,
        "project_slug": project["slug"],
        **state,
    }
    assert status["hooks"]["pre-push"] == {"installed": False, "chained_orig": False}


def test_reinstall_is_idempotent_and_keeps_the_chained_hook(repo, project, isolated_env):
    hooks = repo / ".git" / "hooks"
    source = foreign_hook(hooks / "pre-commit", repo.parent / "marker")
    install(repo, project, isolated_env, prepush=True)
    first = snapshot(hooks)
    install(repo, project, isolated_env, prepush=True)
    install(repo, project, isolated_env)
    assert snapshot(hooks) == first
    assert (hooks / "pre-commit.orig").read_text() == source
    assert sorted(k for k in first if not k.endswith(".sample")) == [
        "hooks.d/pre-commit/50-agent-mail.py",
        "hooks.d/pre-push/50-agent-mail.py",
        "pre-commit",
        "pre-commit.orig",
        "pre-push",
    ]


def test_a_second_foreign_hook_is_refused_and_nothing_changes(repo, project, isolated_env):
    hooks = repo / ".git" / "hooks"
    foreign_hook(hooks / "pre-commit", repo.parent / "marker", text="first")
    install(repo, project, isolated_env)
    foreign_hook(hooks / "pre-commit", repo.parent / "marker", text="second, written over the runner")
    before = snapshot(hooks)
    with pytest.raises(ConfigurationError) as refused:
        install(repo, project, isolated_env, prepush=True)
    assert "pre-commit.orig" in refused.value.message and str(hooks / "pre-commit") in refused.value.message
    assert "merge" in refused.value.hint.lower()
    assert snapshot(hooks) == before
    assert not (hooks / "pre-push").exists()


def test_a_copy_of_the_chained_hook_over_the_runner_is_reported_and_repaired(repo, project, isolated_env):
    hooks = repo / ".git" / "hooks"
    source = foreign_hook(hooks / "pre-commit", repo.parent / "marker")
    install(repo, project, isolated_env)
    (hooks / "pre-commit").write_text(source)  # another tool reinstalls its own hook
    broken = guard_status(repo)["hooks"]["pre-commit"]
    assert broken["installed"] is False and "reinstall" in broken["problem"]
    install(repo, project, isolated_env)
    assert guard_status(repo)["hooks"]["pre-commit"]["installed"] is True
    assert (hooks / "pre-commit.orig").read_text() == source


def test_foreign_hook_is_chained_and_still_runs_on_commit(repo, project, isolated_env, git):
    marker = repo.parent / "marker"
    foreign_hook(repo / ".git" / "hooks" / "pre-commit", marker)
    install(repo, project, isolated_env)
    assert (repo / ".git" / "hooks" / "pre-commit.orig").is_file()
    assert commit(git, repo).returncode == 0
    assert marker.read_text() == "ran \n"
    assert git(repo, "log", "--format=%s", "-1").stdout.strip() == "edit README.md"


def test_prepush_chain_forwards_remote_arguments_and_stdin(repo, project, isolated_env, git, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "upstream", str(remote))
    marker = tmp_path / "marker"
    foreign_hook(repo / ".git" / "hooks" / "pre-push", marker)
    install(repo, project, isolated_env, prepush=True)
    pushed = git(repo, "push", "-q", "upstream", "main")
    assert pushed.returncode == 0, pushed.stderr
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    lines = marker.read_text().splitlines()
    assert lines[0] == f"ran upstream {remote}"
    assert lines[1] == f"refs/heads/main {head} refs/heads/main {'0' * 40}"


def test_chain_stops_at_the_first_failing_hook(repo, project, isolated_env, git, tmp_path):
    hooks = repo / ".git" / "hooks"
    marker = tmp_path / "marker"
    foreign_hook(hooks / "pre-commit", marker)
    install(repo, project, isolated_env)
    refuse = hooks / "hooks.d" / "pre-commit" / "10-refuse"
    refuse.write_text("#!/bin/sh\necho refused-by-10 >&2\nexit 3\n")
    refuse.chmod(0o755)
    (hooks / "hooks.d" / "pre-commit" / "20-not-executable").write_text("#!/bin/sh\nexit 9\n")
    failed = commit(git, repo)
    assert failed.returncode != 0 and "refused-by-10" in failed.stderr
    assert not marker.exists()
    assert git(repo, "log", "--format=%s", "-1").stdout.strip() == "initial"


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_core_hooks_path_is_honoured(repo, project, isolated_env, git, tmp_path, absolute):
    target = tmp_path / "shared-hooks" if absolute else repo / "tools" / "hooks"
    git(repo, "config", "core.hooksPath", str(target) if absolute else "tools/hooks")
    (repo / "src" / "deep").mkdir()
    assert hooks_dir(repo / "src" / "deep") == target
    marker = tmp_path / "marker"
    foreign_hook(target / "pre-commit", marker)
    assert install(repo, project, isolated_env) == target / "pre-commit"
    assert (target / "hooks.d" / "pre-commit" / "50-agent-mail.py").is_file()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert commit(git, repo).returncode == 0
    assert marker.read_text() == "ran \n"


def test_linked_worktree_installs_into_the_common_hooks_dir(repo, project, isolated_env, git, tmp_path):
    worktree = tmp_path / "wt"
    assert git(repo, "worktree", "add", "-q", "-b", "feature", str(worktree)).returncode == 0
    marker = tmp_path / "marker"
    foreign_hook(repo / ".git" / "hooks" / "pre-commit", marker)
    assert install(worktree, project, isolated_env) == repo / ".git" / "hooks" / "pre-commit"
    assert not (repo / ".git" / "worktrees" / "wt" / "hooks").exists()
    assert commit(git, worktree).returncode == 0
    assert marker.read_text() == "ran \n"
    assert git(repo, "log", "--format=%s", "-1", "feature").stdout.strip() == "edit README.md"


def test_uninstall_restores_the_foreign_hook_and_removes_ours(repo, project, isolated_env):
    hooks = repo / ".git" / "hooks"
    source = foreign_hook(hooks / "pre-commit", repo.parent / "marker")
    before = snapshot(hooks)
    install(repo, project, isolated_env, prepush=True)
    assert uninstall_guard(repo) is True
    assert snapshot(hooks) == before
    assert (hooks / "pre-commit").read_text() == source and not (hooks / "hooks.d").exists()
    assert uninstall_guard(repo) is False


def test_uninstall_keeps_the_runner_while_other_plugins_remain(repo, project, isolated_env):
    hooks = repo / ".git" / "hooks"
    install(repo, project, isolated_env)
    other = hooks / "hooks.d" / "pre-commit" / "60-lint"
    other.write_text("#!/bin/sh\nexit 0\n")
    other.chmod(0o755)
    assert uninstall_guard(repo) is True
    assert not (hooks / "hooks.d" / "pre-commit" / "50-agent-mail.py").exists()
    assert other.is_file() and "chain-runner" in (hooks / "pre-commit").read_text()
    status = guard_status(repo)["hooks"]["pre-commit"]
    assert status["installed"] is False and "project_slug" not in status


async def test_service_errors_are_coded_and_write_nothing(repo, project, isolated_env, tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    hooks = repo / ".git" / "hooks"
    before = snapshot(hooks)
    with pytest.raises(NotFoundError, match="not found") as unknown:
        await install_precommit_guard("/nowhere/else", str(repo))
    assert unknown.value.hint
    with pytest.raises(NotFoundError) as missing:
        await install_precommit_guard(str(repo), str(tmp_path / "missing"))
    assert missing.value.hint
    with pytest.raises(InvalidArgumentError, match="not inside a Git work tree"):
        await install_precommit_guard(str(repo), str(plain))
    with pytest.raises(InvalidArgumentError, match="not inside a Git work tree"):
        await uninstall_precommit_guard(str(plain))
    with pytest.raises(InvalidArgumentError):
        await install_precommit_guard(str(repo), "relative/path")
    with pytest.raises(InvalidArgumentError):
        await install_precommit_guard(str(repo), str(repo / "README.md"))
    from mcp_agent_mail.config import clear_settings_cache
    from mcp_agent_mail.services.reservations import guard as guard_service

    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    clear_settings_cache()
    with pytest.raises(ConfigurationError, match="in-memory database") as memory:
        guard_service.mailbox_target()
    assert "PostgreSQL" in memory.value.hint
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:secret@localhost/mail")
    clear_settings_cache()
    with pytest.raises(ConfigurationError, match="asyncpg") as driver:
        guard_service.mailbox_target()
    assert "secret" not in f"{driver.value.message} {driver.value.hint}"
    assert snapshot(hooks) == before and list(plain.iterdir()) == []


async def test_service_installs_and_uninstalls(repo, project, isolated_env):
    installed = await install_precommit_guard(project["slug"], f"{repo}/./src/..")
    assert installed == {"hook": str(repo / ".git" / "hooks" / "pre-commit")}
    assert guard_status(repo)["hooks"]["pre-commit"]["installed"] is True
    assert await uninstall_precommit_guard(str(repo)) == {"removed": True}
    assert await uninstall_precommit_guard(str(repo)) == {"removed": False}
