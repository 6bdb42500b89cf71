"""The Git guard: install or remove the hooks that keep commits off files other agents reserved."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.engine import URL, make_url

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, sqlite_path_from_url
from mcp_agent_mail.db.backend_url import parse_database_url
from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, NotFoundError, UnauthorizedError
from mcp_agent_mail.services.identity.auth import STRICT, identity_mode
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.reservations.guard_install import (
    HOOKS,
    PLUGIN_NAME,
    MailboxTarget,
    PasswordEntry,
    PostgresTarget,
    hooks_dir,
    install_guard,
    read_plugin,
    uninstall_guard,
)

PASSFILE_NAME = "guard.pgpass"
"""The libpq password file (mode 0600) in the data directory that PostgreSQL guards read their password from."""
_SECRET_QUERY_KEYS = ("password", "sslpassword")


def repo_path(code_repo_path: str) -> Path:
    """Expand and resolve a repository path; raise NOT_FOUND if it is missing, INVALID_ARGUMENT if not a directory."""
    raw = (code_repo_path or "").strip()
    if not raw:
        raise InvalidArgumentError("code_repo_path is empty.", hint="Pass the path of the code repository.")
    if "\x00" in raw:
        raise InvalidArgumentError("code_repo_path contains a NUL character.")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise InvalidArgumentError(
            f"code_repo_path {raw!r} is not an absolute path.",
            hint="Pass the absolute path of the repository, e.g. /home/me/repo.",
        )
    path = path.resolve()
    if not path.exists():
        raise NotFoundError(f"{path} does not exist.", hint="Pass the path of an existing Git work tree.")
    if not path.is_dir():
        raise InvalidArgumentError(f"{path} is not a directory.", hint="Pass the path of a Git work tree.")
    return path


def _query_value(url: URL, key: str) -> str:
    value = url.query.get(key)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return str(value) if value else ""


def postgres_target(url: str, passfile: Path) -> PostgresTarget:
    """Return the hooks' view of a PostgreSQL DATABASE_URL: the URL without its password, the password kept apart."""
    parsed = make_url(url)
    password = parsed.password or _query_value(parsed, "password")
    # URL.set() ignores None, so the password is dropped with the named tuple's _replace.
    stored = parsed._replace(drivername="postgresql", password=None).difference_update_query(_SECRET_QUERY_KEYS)
    text = stored.render_as_string(hide_password=False)
    if not password:
        return PostgresTarget(text)
    host = parsed.host or _query_value(parsed, "host")
    port = parsed.port or _query_value(parsed, "port")
    entry = PasswordEntry(
        host="localhost" if not host or host.startswith("/") else host,
        port=str(port) if port else "*",
        database=parsed.database or _query_value(parsed, "dbname") or "*",
        user=parsed.username or _query_value(parsed, "user") or "*",
        password=str(password),
    )
    return PostgresTarget(text, passfile, entry)


def mailbox_target() -> MailboxTarget:
    """Return the mailbox the hooks will read (a SQLite file, or PostgreSQL); raise CONFIGURATION_ERROR otherwise."""
    settings = get_settings()
    url = settings.database.url
    if parse_database_url(url).dialect == "postgresql":
        return postgres_target(url, settings.data_dir / PASSFILE_NAME)
    path = sqlite_path_from_url(url)
    if path is None:
        raise ConfigurationError(
            "The Git guard reads the mailbox from another process, but DATABASE_URL names an in-memory database.",
            hint="Point DATABASE_URL at a sqlite+aiosqlite:/// file or a PostgreSQL database to use the guard.",
        )
    return path


async def install_for_project(project_key: str, code_repo_path: str, *, prepush: bool = False) -> dict[str, Any]:
    """Install the guard for a project; return the hook path, the project's human key and slug, and what it reads.

    ``mailbox`` is the SQLite file or the PostgreSQL URL (without its password) the hooks read;
    ``passfile`` is the 0600 password file they take the password from, when DATABASE_URL has one.
    """

    async def read(session: ReadTransaction) -> RowMapping:
        return await resolve_project(session, project_key)

    project = await run_read(read)
    repo = repo_path(code_repo_path)
    mailbox = mailbox_target()
    hook = await asyncio.to_thread(install_guard, repo, mailbox=mailbox, project_slug=project["slug"], prepush=prepush)
    installed = {"hook": str(hook), "human_key": project["human_key"], "slug": project["slug"]}
    if isinstance(mailbox, PostgresTarget):
        installed["mailbox"] = mailbox.url
        if mailbox.passfile is not None:
            installed["passfile"] = str(mailbox.passfile)
    else:
        installed["mailbox"] = str(mailbox)
    return installed


async def install_precommit_guard(project_key: str, code_repo_path: str, *, prepush: bool = False) -> dict[str, Any]:
    """Install the guard's pre-commit hook (and pre-push when asked) in a repository; return the hook path."""
    installed = await install_for_project(project_key, code_repo_path, prepush=prepush)
    return {"hook": installed["hook"]}


async def uninstall_precommit_guard(code_repo_path: str) -> dict[str, Any]:
    """Remove the guard's hooks from a repository, restoring hooks it chained; tell whether anything went."""
    repo = repo_path(code_repo_path)
    return {"removed": await asyncio.to_thread(uninstall_guard, repo)}


def installed_slugs(repo: Path) -> set[str]:
    """Return the slugs of the projects whose guard plugins are installed in ``repo``."""
    hooks = hooks_dir(repo)
    plugins = (read_plugin(hooks / "hooks.d" / hook / PLUGIN_NAME) for hook in HOOKS)
    return {plugin["project_slug"] for plugin in plugins if plugin.get("project_slug")}


async def uninstall_for_project(project_key: str | None, code_repo_path: str) -> dict[str, Any]:
    """Remove a project's guard from a repository; refuse if the guard there belongs to another project.

    Without ``project_key`` the project is the one the installed guard names; that is allowed only in
    trusted identity mode, since strict mode needs a project to check the caller's proof against.
    """
    repo = repo_path(code_repo_path)
    if project_key is None:
        if identity_mode() == STRICT:
            raise UnauthorizedError(
                "Removing the guard needs proof that you speak for its project (AGENT_IDENTITY_MODE=strict).",
                hint="Pass project_key and the registration_token of one of that project's agents.",
            )
        return {"removed": await asyncio.to_thread(uninstall_guard, repo)}

    async def read(session: ReadTransaction) -> RowMapping:
        return await resolve_project(session, project_key)

    project = await run_read(read)

    def remove() -> bool:
        others = sorted(installed_slugs(repo) - {project["slug"]})
        if others:
            raise InvalidArgumentError(
                f"The guard in {repo} belongs to project {others[0]!r}, not {project['slug']!r}; nothing was removed.",
                hint=f"Pass project_key={others[0]!r} with the registration_token of one of its agents.",
            )
        return uninstall_guard(repo)

    return {"removed": await asyncio.to_thread(remove)}
