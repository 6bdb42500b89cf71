"""Which database the server uses, found as :mod:`mcp_agent_mail.config` finds it, without pydantic.

Precedence, as for the server's settings: the process environment (names in any
case), then ``./.env``, then ``<data dir>/.env``, then the default SQLite file in
the data directory (``MCP_AGENT_MAIL_HOME``, else ``~/.mcp_agent_mail``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"})
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"})
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*?))?\s*$", re.DOTALL)
_VARIABLE = re.compile(r"\$\{([^}:]+)(?::-([^}]*))?\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "$": "$"}


@dataclass(frozen=True, slots=True)
class Database:
    """The mailbox's database: a SQLite file, or a PostgreSQL URL that libpq accepts."""

    sqlite_path: Path | None = None
    postgres_url: str | None = None
    memory: bool = False


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the per-user data directory, as the server's settings resolve it."""
    env = os.environ if environ is None else environ
    override = env.get("MCP_AGENT_MAIL_HOME", "").strip()
    base = Path(override).expanduser() if override else Path.home() / ".mcp_agent_mail"
    return base.resolve()


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def _interpolate(value: str, known: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        found = known.get(match.group(1))
        return found if found else (match.group(2) or "")

    return _VARIABLE.sub(replace, value)


def _value(raw: str, known: Mapping[str, str]) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return _interpolate(_unescape(raw[1:-1]), known)
    unquoted = re.split(r"\s#", raw, maxsplit=1)[0].rstrip()
    return _interpolate(unquoted, known)


def read_dotenv(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the ``KEY=VALUE`` pairs of a ``.env`` file (keys lower-cased; empty when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    known: dict[str, str] = dict(os.environ if environ is None else environ)
    values: dict[str, str] = {}
    for line in _logical_lines(text):
        match = _LINE.match(line)
        if match is None or match.group(2) is None:
            continue
        value = _value(match.group(2), known)
        known[match.group(1)] = value
        values[match.group(1).lower()] = value
    return values


def _logical_lines(text: str) -> list[str]:
    """Split ``text`` into lines, keeping a quoted value that spans lines whole, and drop comments."""
    lines: list[str] = []
    pending = ""
    for line in text.splitlines():
        current = f"{pending}\n{line}" if pending else line
        stripped = current.split("=", 1)[1].strip() if "=" in current else ""
        quote = stripped[:1]
        if quote in ("'", '"') and (
            len(stripped) < 2 or not stripped.endswith(quote) or stripped.endswith("\\" + quote)
        ):
            pending = current
            continue
        pending = ""
        if current.strip() and not current.lstrip().startswith("#"):
            lines.append(current)
    return lines


def setting(name: str, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """Return the value of setting ``name`` from the environment or the ``.env`` files, or None when unset."""
    env = os.environ if environ is None else environ
    wanted = name.lower()
    for key, value in env.items():
        if key.lower() == wanted:
            return value
    for path in ((cwd or Path.cwd()) / ".env", data_dir(env) / ".env"):
        found = read_dotenv(path, env).get(wanted)
        if found is not None:
            return found
    return None


def database_url(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Return the ``DATABASE_URL`` the server would use (the default SQLite file when none is set)."""
    configured = (setting("DATABASE_URL", environ, cwd) or "").strip()
    return configured or f"sqlite+aiosqlite:///{data_dir(environ) / 'mailbox.sqlite3'}"


def locate_database(url: str, cwd: Path | None = None) -> Database:
    """Return the database ``url`` names; raise ValueError (never quoting the URL) for any other kind of URL."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError("DATABASE_URL is not a database URL")
    if scheme in _SQLITE_SCHEMES:
        database = unquote(rest.split("?", 1)[0].partition("/")[2])
        if not database or database == ":memory:":
            return Database(memory=True)
        path = Path(database).expanduser()
        return Database(sqlite_path=path if path.is_absolute() else ((cwd or Path.cwd()) / path).resolve())
    if scheme in _POSTGRES_SCHEMES:
        return Database(postgres_url=f"postgresql://{rest}")
    raise ValueError("DATABASE_URL names neither SQLite nor PostgreSQL")


__all__ = ["Database", "data_dir", "database_url", "locate_database", "read_dotenv", "setting"]
