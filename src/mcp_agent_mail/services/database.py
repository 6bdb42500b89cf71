"""The database as servers and commands see it: schema preparation at start-up, a printable URL, coded errors."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import engine as db_engine
from mcp_agent_mail.db import ensure_schema, sync_read_connection
from mcp_agent_mail.db.migrations import current_version
from mcp_agent_mail.errors import AgentMailError, ConfigurationError

_SECRET_QUERY_KEYS = ("pass", "token", "secret", "key", "auth")


def prepare_database(settings: Settings) -> int:
    """Create or upgrade the schema and return its version; an unusable database is CONFIGURATION_ERROR."""
    try:
        ensure_schema(settings)
        with sync_read_connection(settings) as conn:
            return current_version(conn)
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigurationError(
            f"Cannot open the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
            hint="Check DATABASE_URL and that its directory is writable.",
        ) from exc


def printable_url(url: str) -> str:
    """Return a database URL fit to show: password and secret-looking query values replaced by ``***``."""
    try:
        parsed = make_url(url)
    except Exception:
        return "<unparseable database url>"
    query = {
        key: ("***" if any(secret in key.lower() for secret in _SECRET_QUERY_KEYS) else value)
        for key, value in parsed.query.items()
    }
    return parsed.set(query=query).render_as_string(hide_password=True)


def database_error(exc: BaseException) -> AgentMailError | None:
    """Return the coded error for a failure the caller's input or a busy database caused, else None."""
    return db_engine.database_error(exc)
