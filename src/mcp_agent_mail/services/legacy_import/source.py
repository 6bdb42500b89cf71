"""Open a mailbox of the original project without changing it: its SQLite database and its archive folder.

The database is opened read-only (``mode=ro``). When no write-ahead log lies
beside it (the original server is stopped), it is also opened ``immutable``, so
SQLite creates no ``-wal``/``-shm`` file next to it either. Attachment files are
read from the archive folder only through :func:`read_archive_file`, which
refuses any path that leaves the folder.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError

#: Tables of the original, in the order rows depend on each other.
TABLES = (
    "projects",
    "agents",
    "messages",
    "message_recipients",
    "file_reservations",
    "agent_links",
    "window_identities",
    "message_summaries",
    "products",
    "product_project_links",
    "project_sibling_suggestions",
)
REQUIRED = ("projects", "agents", "messages")
_HINT = "Pass --database the original's storage.sqlite3 and --storage its archive folder (STORAGE_ROOT)."


@dataclass
class Source:
    """The rows of an original mailbox (column name -> value, as SQLite stored them) and its archive folder."""

    database: Path
    storage: Path
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def table(self, name: str) -> list[dict[str, Any]]:
        """Return the rows of a table (empty when the original had no such table)."""
        return self.rows.get(name, [])


def _uri(path: Path) -> str:
    immutable = not Path(f"{path}-wal").exists()
    return path.as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def _read_tables(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in names and "archive_outbox" in names:
        raise InvalidArgumentError(
            "This database is already a mailbox of this program, not one of the original.",
            hint="Move a mailbox of this program with `mcp-agent-mail archive save` and `archive restore`.",
        )
    missing = [t for t in REQUIRED if t not in names]
    if missing:
        raise InvalidArgumentError(
            f"This database is not a mailbox of the original: it has no {', '.join(missing)} table.", hint=_HINT
        )
    conn.row_factory = sqlite3.Row
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        if table in names:
            rows[table] = [dict(row) for row in conn.execute(f'SELECT * FROM "{table}"')]
    return rows


def open_source(database: Path, storage: Path) -> Source:
    """Read every table of an original mailbox (read-only) and check its archive folder exists."""
    database = Path(os.path.abspath(os.path.expanduser(database)))
    storage = Path(os.path.abspath(os.path.expanduser(storage)))
    if not database.is_file():
        raise NotFoundError(f"There is no database file at {database}.", hint=_HINT)
    if not storage.is_dir():
        raise NotFoundError(f"There is no archive folder at {storage}.", hint=_HINT)
    # Text as the original wrote it; bytes that are not UTF-8 are kept visible instead of failing the read.
    try:
        conn = sqlite3.connect(_uri(database), uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise InvalidArgumentError(f"The database {database} cannot be opened: {exc}.", hint=_HINT) from exc
    conn.text_factory = lambda data: data.decode("utf-8", "replace")
    try:
        rows = _read_tables(conn)
    except sqlite3.Error as exc:
        raise InvalidArgumentError(f"The database {database} cannot be read: {exc}.", hint=_HINT) from exc
    finally:
        conn.close()
    return Source(database=database, storage=storage, rows=rows)


def read_archive_file(storage: Path, rel: str, max_bytes: int) -> bytes:
    """Return a file of the original's archive by its repo-relative path, refusing anything outside it.

    Refused (ValueError with the reason): absolute paths, ``..``, paths outside ``projects/``,
    symlinks that lead out of the folder, anything that is not a regular file, and files
    larger than ``max_bytes``. A missing file raises FileNotFoundError.
    """
    if not rel or "\x00" in rel or "\\" in rel:
        raise ValueError("the path is empty or not a POSIX path")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or pure.parts[0] != "projects":
        raise ValueError("the path leaves the archive's projects folder")
    root = storage.resolve()
    real = (root / pure).resolve()
    if not real.is_relative_to(root / "projects"):
        raise ValueError("the path leads out of the archive folder")
    if not real.exists():
        raise FileNotFoundError(rel)
    if not real.is_file():
        raise ValueError("the path is not a regular file")
    size = real.stat().st_size
    if size > max_bytes:
        raise ValueError(f"the file is larger than ATTACHMENT_MAX_BYTES ({max_bytes} bytes)")
    with open(real, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"the file is larger than ATTACHMENT_MAX_BYTES ({max_bytes} bytes)")
    return data


__all__ = ["REQUIRED", "TABLES", "Source", "open_source", "read_archive_file"]
