"""Persistence: engines, sessions, schema and migrations."""

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
    write_session,
)
from mcp_agent_mail.db.types import UTCDateTime

__all__ = [
    "UTCDateTime",
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
    "write_session",
]
