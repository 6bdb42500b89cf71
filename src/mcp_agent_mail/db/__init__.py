"""Persistence: engines, the read and write transactions, schema and migrations.

Services read with :func:`run_read` and write with :func:`run_write`, whose units of work get a
:class:`ReadTransaction` / :class:`WriteTransaction`. :func:`get_session` yields an SQLAlchemy
``AsyncSession`` for scripts and tests only.
"""

from mcp_agent_mail.db import schema
from mcp_agent_mail.db.engine import (
    ensure_schema,
    get_engine,
    get_session,
    get_sync_engine,
    is_sqlite,
    require_sqlite_path,
    reset_database_state,
    run_read,
    run_write,
    sqlite_path_from_url,
    sync_read_connection,
    sync_write_connection,
)
from mcp_agent_mail.db.transactions import ReadTransaction, ThreadTransaction, WriteTransaction
from mcp_agent_mail.db.types import UTCDateTime

__all__ = [
    "ReadTransaction",
    "ThreadTransaction",
    "UTCDateTime",
    "WriteTransaction",
    "ensure_schema",
    "get_engine",
    "get_session",
    "get_sync_engine",
    "is_sqlite",
    "require_sqlite_path",
    "reset_database_state",
    "run_read",
    "run_write",
    "schema",
    "sqlite_path_from_url",
    "sync_read_connection",
    "sync_write_connection",
]
