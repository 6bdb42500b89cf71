"""Real Git work trees for tests: run git in a directory, and make a repository with one commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

DEFAULT_FILES = {"src/app.py": "print('v1')\n", "README.md": "readme\n"}


def run_git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run git in ``repo`` and return the finished process (never raises on a non-zero exit)."""
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)


def init_repo(path: Path, *, files: dict[str, str] | None = None, commit: bool = True) -> Path:
    """Make ``path`` a Git work tree on ``main`` holding ``files``, committed as "initial" if ``commit``."""
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "-q", "-b", "main")
    run_git(path, "config", "user.name", "Tester")
    run_git(path, "config", "user.email", "tester@example.com")
    for name, text in (DEFAULT_FILES if files is None else files).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if commit:
        run_git(path, "add", "-A")
        done = run_git(path, "commit", "-q", "-m", "initial")
        if done.returncode != 0:
            raise RuntimeError(f"git commit failed in {path}: {done.stderr.strip()}")
    return path
