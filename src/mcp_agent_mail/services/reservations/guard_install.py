"""Install, remove and inspect the guard's Git hooks in a repository.

Layout for each hook ``H`` (``pre-commit``, ``pre-push``) in the directory Git
runs hooks from:

- ``H`` is a small Python chain-runner that runs every executable file in
  ``hooks.d/H/`` in name order, then ``H.orig``, stopping at the first failure;
- ``hooks.d/H/50-agent-mail.py`` is the guard plugin, which calls
  :func:`mcp_agent_mail.guard.hook.run_hook` with the mailbox database and the
  project baked in: a SQLite file's path, or a PostgreSQL URL without its password
  plus the password file the hook hands to libpq (see :mod:`mcp_agent_mail.guard`);
- ``H.orig`` is the hook that was there before, kept and still run.

Every check happens before the first write, so a refused install changes
nothing, and no existing hook is ever overwritten. No password is ever written
into a hook: it goes, when there is one, into a 0600 libpq password file.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError

HOOKS = ("pre-commit", "pre-push")
PLUGIN_NAME = "50-agent-mail.py"
GUARD_MODE_ENV = "AGENT_MAIL_GUARD_MODE"
_EXECUTABLE = 0o755
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX")

_RUNNER = """#!{python}
# {marker}
# Runs every executable file in hooks.d/{hook}/ in name order, then {hook}.orig, with the
# arguments and standard input Git gave this hook; the first failure stops the chain.
# Written by `mcp-agent-mail guard install`, removed by `mcp-agent-mail guard uninstall`.
import os
import subprocess
import sys

HOOK = {hook!r}


def children(here):
    plugins = os.path.join(here, "hooks.d", HOOK)
    names = sorted(n for n in os.listdir(plugins) if not n.startswith(".")) if os.path.isdir(plugins) else []
    paths = [os.path.join(plugins, name) for name in names]
    paths.append(os.path.join(here, HOOK + ".orig"))
    return [p for p in paths if os.path.isfile(p) and os.access(p, os.X_OK)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    stream = sys.stdin
    data = b"" if stream is None or stream.isatty() else stream.buffer.read()
    for path in children(here):
        try:
            code = subprocess.run([path, *sys.argv[1:]], input=data).returncode
        except OSError as exc:
            sys.stderr.write("[%s] cannot run %s: %s\\n" % (HOOK, path, exc))
            return 1
        if code != 0:
            return code if code > 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""

_PLUGIN = """#!{python}
# mcp-agent-mail guard plugin ({hook}) for project {slug}
import sys
from mcp_agent_mail.guard.hook import run_hook
sys.exit(run_hook("{hook}", {mailbox}, project_slug={slug!r}, argv=sys.argv[1:]))
"""
_PLUGIN_KEYWORDS = ("database_path", "database_url", "passfile", "project_slug")


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@dataclass(frozen=True)
class PasswordEntry:
    """One line of a libpq password file: where it applies (``*`` for any) and the password, which is never shown."""

    host: str
    port: str
    database: str
    user: str
    password: str = field(repr=False)

    def key(self) -> str:
        """Return the line's first four fields (host:port:database:user), escaped as libpq reads them."""
        return ":".join(_pgpass_field(part) for part in (self.host, self.port, self.database, self.user))

    def line(self) -> str:
        """Return the whole line, escaped as libpq reads it."""
        return f"{self.key()}:{_pgpass_field(self.password)}"


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL mailbox for the hooks: its URL without a password and, if it had one, where to keep it."""

    url: str
    passfile: Path | None = None
    entry: PasswordEntry | None = field(default=None, repr=False)


MailboxTarget = Path | PostgresTarget
"""What a plugin reads: a SQLite file, or a PostgreSQL database."""


def runner_marker(hook: str) -> str:
    """Return the text that identifies our chain-runner for ``hook``."""
    return f"mcp-agent-mail chain-runner ({hook})"


def _python() -> str:
    python = sys.executable
    if not python or any(c.isspace() for c in python):
        raise ConfigurationError(
            f"The Python running this command ({python or 'unknown'!r}) cannot be named in a hook's #! line.",
            hint="Run mcp-agent-mail from a Python whose path has no spaces (e.g. a virtualenv elsewhere).",
        )
    return python


def _check_hook(hook: str) -> None:
    if hook not in HOOKS:
        raise InvalidArgumentError(f"Unknown hook {hook!r}.", hint=f"Use one of: {', '.join(HOOKS)}.")


def chain_runner_script(hook: str) -> str:
    """Return the source of the chain-runner installed as ``<hooks>/<hook>``."""
    _check_hook(hook)
    return _RUNNER.format(python=_python(), marker=runner_marker(hook), hook=hook)


def plugin_script(hook: str, mailbox: MailboxTarget | str, project_slug: str) -> str:
    """Return the source of the guard plugin ``hooks.d/<hook>/50-agent-mail.py``."""
    _check_hook(hook)
    if not _SLUG.match(project_slug or ""):
        raise InvalidArgumentError(f"Project slug {project_slug!r} cannot name a guarded project.")
    if isinstance(mailbox, PostgresTarget):
        if urlsplit(mailbox.url).password is not None or "password=" in urlsplit(mailbox.url).query:
            raise ConfigurationError(
                "The guard's hooks never hold a password, but the database URL given for them has one.",
                hint="Give the URL without its password; the password goes into the guard's password file.",
            )
        passfile = str(mailbox.passfile) if mailbox.passfile else None
        where = f"database_url={mailbox.url!r}, passfile={passfile!r}"
    else:
        where = f"database_path={str(Path(mailbox).expanduser().absolute())!r}"
    return _PLUGIN.format(python=_python(), hook=hook, mailbox=where, slug=project_slug)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable and writable by its owner only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def save_password(passfile: Path, entry: PasswordEntry) -> None:
    """Put ``entry`` into the libpq password file ``passfile`` (0600), replacing any line for the same login."""
    if "\n" in entry.password or "\r" in entry.password:
        raise ConfigurationError(
            "The PostgreSQL password in DATABASE_URL contains a line break, which a password file cannot hold.",
            hint="Use PGPASSWORD or ~/.pgpass for this login, and a DATABASE_URL without the password.",
        )
    try:
        old = passfile.read_text(encoding="utf-8").splitlines() if passfile.is_file() else []
    except OSError as exc:
        raise ConfigurationError(
            f"Could not read the guard's password file {passfile}: {exc.strerror or exc}",
            hint="Check its permissions (it should be yours, mode 0600), or remove it and install again.",
        ) from None
    prefix = entry.key() + ":"
    kept = [line for line in old if line.strip() and not line.startswith(prefix)]
    try:
        _write_private(passfile, "".join(f"{line}\n" for line in [*kept, entry.line()]))
    except OSError as exc:
        raise ConfigurationError(
            f"Could not write the guard's password file {passfile}: {exc.strerror or exc}",
            hint="Check the permissions of the data directory (MCP_AGENT_MAIL_HOME).",
        ) from None


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=60)


def hooks_dir(repo: Path) -> Path:
    """Return the absolute directory Git runs ``repo``'s hooks from (honours core.hooksPath and worktrees)."""
    repo = Path(repo)
    if not repo.is_dir():
        raise InvalidArgumentError(f"{repo} is not a directory.", hint="Pass the path of a Git work tree.")
    if shutil.which("git") is None:
        raise ConfigurationError("git is not installed or not on PATH.", hint="Install Git and try again.")
    inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise InvalidArgumentError(
            f"{repo} is not inside a Git work tree.",
            hint="Pass the checkout of a repository (run `git init` there first); bare repositories have no commits "
            "to guard.",
        )
    found = _git(repo, "rev-parse", "--git-path", "hooks")
    text = found.stdout.rstrip("\n")
    if found.returncode != 0 or not text:
        raise ConfigurationError(
            f"git could not name the hooks directory of {repo}: {found.stderr.strip() or 'no output'}",
            hint="Check `git rev-parse --git-path hooks` in that repository.",
        )
    path = Path(text)
    return (path if path.is_absolute() else repo / path).resolve()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def is_chain_runner(path: Path, hook: str) -> bool:
    """Tell whether ``path`` is our chain-runner for ``hook``."""
    if path.is_symlink() or not path.is_file():
        return False
    content = _read(path)
    return content is not None and runner_marker(hook).encode() in content


@dataclass(frozen=True)
class _Step:
    """What installing one hook will do, decided before anything is written."""

    hook: str
    top: Path
    orig: Path
    plugin: Path
    keep_foreign: bool  # move the foreign hook at ``top`` to ``orig``
    duplicate_mode: int | None  # the foreign hook equals ``orig``: give ``orig`` this mode and drop it


def _refuse_non_directory(path: Path) -> None:
    if os.path.lexists(path) and not path.is_dir():
        raise ConfigurationError(
            f"{path} exists and is not a directory.", hint="Move it aside, then install the guard again."
        )


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _plan(hooks: Path, hook: str) -> _Step:
    top, orig = hooks / hook, hooks / f"{hook}.orig"
    plugin_dir = hooks / "hooks.d" / hook
    plugin = plugin_dir / PLUGIN_NAME
    for directory in (hooks, hooks / "hooks.d", plugin_dir):
        _refuse_non_directory(directory)
    if plugin.is_dir():
        raise ConfigurationError(f"{plugin} is a directory.", hint="Move it aside, then install the guard again.")
    for directory in (hooks, plugin_dir):
        writable = _nearest_existing(directory)
        if not os.access(writable, os.W_OK | os.X_OK):
            raise ConfigurationError(f"Cannot write hooks in {writable}.", hint="Check the directory's permissions.")
    if not os.path.lexists(top) or is_chain_runner(top, hook):
        return _Step(hook, top, orig, plugin, keep_foreign=False, duplicate_mode=None)
    if top.is_dir():
        raise ConfigurationError(f"{top} is a directory, not a hook.", hint="Move it aside, then install again.")
    if not os.path.lexists(orig):
        return _Step(hook, top, orig, plugin, keep_foreign=True, duplicate_mode=None)
    foreign = _read(top)
    if foreign is not None and not top.is_symlink() and not orig.is_symlink() and foreign == _read(orig):
        mode = (orig.stat().st_mode | top.stat().st_mode) & 0o7777
        return _Step(hook, top, orig, plugin, keep_foreign=False, duplicate_mode=mode)
    raise ConfigurationError(
        f"Both {top} and {orig} hold hooks that are not the guard's; installing would lose one of them.",
        hint=f"Merge them by hand into {orig} (or delete one), then install the guard again.",
    )


def _stage(path: Path, text: str) -> Path:
    """Write ``text`` next to ``path`` under a hidden temporary name, mode 0755, and return that name."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staged.write_text(text, encoding="utf-8")
    os.chmod(staged, _EXECUTABLE)
    return staged


def _apply(step: _Step, runner: str, plugin: str) -> None:
    step.plugin.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_stage(step.plugin, plugin), step.plugin)
    staged = _stage(step.top, runner)
    try:
        if step.keep_foreign:
            os.replace(step.top, step.orig)
        elif step.duplicate_mode is not None:
            os.chmod(step.orig, step.duplicate_mode)
        os.replace(staged, step.top)
    finally:
        staged.unlink(missing_ok=True)


def install_guard(repo: Path, *, mailbox: MailboxTarget, project_slug: str, prepush: bool = False) -> Path:
    """Install the guard's pre-commit hook (and pre-push when asked) and return the pre-commit hook's path."""
    hooks = hooks_dir(repo)
    wanted = ("pre-commit", "pre-push") if prepush else ("pre-commit",)
    scripts = {h: (chain_runner_script(h), plugin_script(h, mailbox, project_slug)) for h in wanted}
    steps = [_plan(hooks, h) for h in wanted]
    if isinstance(mailbox, PostgresTarget) and mailbox.passfile is not None and mailbox.entry is not None:
        save_password(mailbox.passfile, mailbox.entry)
    try:
        for step in steps:
            _apply(step, *scripts[step.hook])
    except OSError as exc:
        raise ConfigurationError(
            f"Could not write the guard's hooks in {hooks}: {exc}", hint="Check the directory's permissions."
        ) from exc
    return hooks / "pre-commit"


def _remove_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()


def uninstall_guard(repo: Path) -> bool:
    """Remove the guard's hooks from ``repo``, restoring chained hooks; tell whether anything was removed."""
    hooks = hooks_dir(repo)
    removed = False
    try:
        for hook in HOOKS:
            plugin_dir = hooks / "hooks.d" / hook
            plugin = plugin_dir / PLUGIN_NAME
            if plugin.is_file() or plugin.is_symlink():
                plugin.unlink()
                removed = True
            top, orig = hooks / hook, hooks / f"{hook}.orig"
            if is_chain_runner(top, hook):
                others = plugin_dir.is_dir() and any(plugin_dir.iterdir())
                if not others:
                    if os.path.lexists(orig):
                        os.replace(orig, top)
                    else:
                        top.unlink()
                    removed = True
            _remove_empty(plugin_dir)
        _remove_empty(hooks / "hooks.d")
    except OSError as exc:
        raise ConfigurationError(
            f"Could not remove the guard's hooks from {hooks}: {exc}", hint="Check the directory's permissions."
        ) from exc
    return removed


def read_plugin(path: Path) -> dict[str, str]:
    """Return the mailbox and ``project_slug`` a plugin file passes to run_hook (empty if unreadable).

    The mailbox is ``database_path`` (SQLite) or ``database_url`` and ``passfile`` (PostgreSQL).
    """
    content = _read(path)
    if content is None:
        return {}
    try:
        tree = ast.parse(content.decode("utf-8", errors="replace"))
    except SyntaxError:
        return {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "run_hook":
            found: dict[str, str] = {}
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg in _PLUGIN_KEYWORDS and isinstance(value, ast.Constant) and value.value is not None:
                    found[keyword.arg] = str(value.value)
            return found
    return {}


def _hook_status(hooks: Path, hook: str) -> dict[str, Any]:
    top, orig = hooks / hook, hooks / f"{hook}.orig"
    plugin = hooks / "hooks.d" / hook / PLUGIN_NAME
    runner = is_chain_runner(top, hook)
    has_plugin = plugin.is_file()
    status: dict[str, Any] = {"installed": runner and has_plugin, "chained_orig": os.path.lexists(orig)}
    if has_plugin:
        status.update(read_plugin(plugin))
        if "database_path" in status:
            status["database_exists"] = Path(status["database_path"]).is_file()
        if "passfile" in status:
            status["passfile_exists"] = Path(status["passfile"]).is_file()
        if not runner:
            status["problem"] = f"{top} is not the guard's chain-runner, so the plugin never runs; reinstall."
    elif os.path.lexists(top) and not runner:
        status["other_hook"] = True
    return status


def guard_status(repo: Path) -> dict[str, Any]:
    """Describe the guard in ``repo``: hooks directory, each hook's state and target, the guard mode."""
    hooks = hooks_dir(repo)
    return {
        "hooks_dir": str(hooks),
        "guard_mode": os.environ.get(GUARD_MODE_ENV, "").strip() or "block",
        "hooks": {hook: _hook_status(hooks, hook) for hook in HOOKS},
    }
