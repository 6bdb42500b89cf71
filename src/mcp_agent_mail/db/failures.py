"""Which database failures get a code of their own, whatever the backend.

- A busy database (SQLite's "database is locked", PostgreSQL's lock timeout),
  an unreachable or restarting PostgreSQL (connection refused or lost, SQLSTATE
  class 08, 57P01-57P03, too many connections) and a transaction PostgreSQL
  aborted to break a deadlock or a serialization conflict are ``UNAVAILABLE``
  with ``retryable: true``: the call was fine and may succeed later.
- A value the database cannot hold (SQLite's ``OverflowError``, PostgreSQL's
  data exceptions, SQLSTATE class 22, and the driver's own refusals such as
  text with NUL characters) is ``INVALID_ARGUMENT``.
- A reachable PostgreSQL that refuses the database, role or password of
  DATABASE_URL is ``CONFIGURATION_ERROR``: waiting will not help.

Anything else is left to the caller (None). No message quotes the driver's
text, so neither the URL nor its password can appear in one.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from mcp_agent_mail.errors import AgentMailError, ConfigurationError, InvalidArgumentError, UnavailableError

DATABASE_FAILURES: tuple[type[BaseException], ...] = (DBAPIError, OverflowError, PoolTimeoutError)
"""The exceptions a session or transaction translates with :func:`database_error`."""

_BUSY_TEXTS = ("database is locked", "database table is locked", "database is busy")
_CONFLICT_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected
_LOCK_TIMEOUT = "55P03"
_OUT_OF_RANGE = "22003"
_DOWN_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})  # shutdowns, cannot connect now, too many clients
_RETRY_HINT = "Nothing was changed; retry in a few seconds."
# What a running PostgreSQL answers (FATAL, no SQLSTATE reaches psycopg) when DATABASE_URL is wrong.
_REFUSED_SETUP_TEXTS = (
    "does not exist",  # database "x" / role "x"
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "permission denied for database",
)
_SETUP_STATES = frozenset({"3D000", "28000", "28P01", "42501"})  # no database, bad authorization, bad password


def sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of a PostgreSQL failure (wrapped by SQLAlchemy or not), else None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _from_postgresql_driver(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return hasattr(orig, "sqlstate")


def is_conflict(exc: BaseException) -> bool:
    """Tell whether PostgreSQL rolled the transaction back to break a deadlock or a serialization conflict."""
    return sqlstate(exc) in _CONFLICT_STATES


def is_refused_setup(exc: BaseException) -> bool:
    """Tell whether a reachable PostgreSQL server refused the connection because DATABASE_URL names a wrong
    database, role or password (a setting to fix, not an outage to wait out)."""
    if not isinstance(exc, OperationalError) or not _from_postgresql_driver(exc):
        return False
    state = sqlstate(exc)
    if state is not None:
        return state in _SETUP_STATES
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return any(phrase in text for phrase in _REFUSED_SETUP_TEXTS)


def is_unreachable(exc: BaseException) -> bool:
    """Tell whether the database server could not be reached or went away (refused, lost, shutting down)."""
    if not isinstance(exc, DBAPIError):
        return False
    state = sqlstate(exc)
    if state is not None:
        return state.startswith("08") or state in _DOWN_STATES
    if exc.connection_invalidated:
        return True
    # psycopg reports connection failures (refused, reset, timed out) without a SQLSTATE.
    return isinstance(exc, OperationalError) and _from_postgresql_driver(exc)


def database_error(exc: BaseException, *, server: str | None = None) -> AgentMailError | None:
    """Return the coded error for a failure caused by the caller's input or an unavailable database, else None.

    ``server`` (``host:port``, never the whole URL) is named when the server cannot be reached.
    """
    state = sqlstate(exc) or ""
    if isinstance(exc, OverflowError) or state == _OUT_OF_RANGE:
        return InvalidArgumentError(
            "A number in the arguments is out of range (the database holds signed 64-bit integers).",
            hint="Pass ids and counts as returned by the server; they are positive and below 2**63.",
        )
    if state.startswith("22") or isinstance(exc, DataError):
        return InvalidArgumentError(
            "A value in the arguments cannot be stored by the database.",
            hint="Check the arguments: text must be valid UTF-8 without NUL characters, numbers must fit in "
            "64 bits and times must be real dates.",
            data={"sqlstate": state} if state else None,
        )
    if isinstance(exc, PoolTimeoutError):
        return UnavailableError(
            "Every database connection of this server is busy.",
            hint=f"{_RETRY_HINT} If it persists, raise DATABASE_POOL_SIZE.",
            data={"retryable": True},
        )
    if is_conflict(exc):
        return UnavailableError(
            "The database rolled this change back to resolve a conflict with a concurrent one.",
            hint=_RETRY_HINT,
            data={"retryable": True, "sqlstate": sqlstate(exc)},
        )
    if is_refused_setup(exc):
        where = f" at {server}" if server else ""
        return ConfigurationError(
            f"The database server{where} refused the connection: the database or role that DATABASE_URL names "
            "does not exist, or its password is wrong.",
            hint="Create the database and role (see README, Serving a team), or correct DATABASE_URL.",
        )
    if is_unreachable(exc):
        where = f" at {server}" if server else ""
        return UnavailableError(
            f"The database server{where} cannot be reached right now (refused, restarting or connection lost).",
            hint="Retry in a few seconds; if it persists, check that the server runs and that DATABASE_URL names "
            "its host and port. A change whose connection dropped while it was being saved may have been kept: "
            "look (for example at your outbox) before sending it again.",
            data={"retryable": True, **({"sqlstate": sqlstate(exc)} if sqlstate(exc) else {})},
        )
    return busy_error(exc)


def busy_error(exc: BaseException) -> UnavailableError | None:
    """Return an UNAVAILABLE error for a "database is locked/busy" failure, None for any other exception."""
    if not isinstance(exc, OperationalError):
        return None
    if sqlstate(exc) != _LOCK_TIMEOUT:
        text = str(exc.orig if exc.orig is not None else exc).lower()
        if not any(busy in text for busy in _BUSY_TEXTS):
            return None
    return UnavailableError(
        "The database is busy: another process has held its write lock longer than the busy timeout.",
        hint="Nothing was changed; retry in a few seconds. If it persists, find the process holding the "
        "database open in a transaction (DATABASE_BUSY_TIMEOUT_MS sets how long calls wait).",
        data={"retryable": True},
    )


__all__ = [
    "DATABASE_FAILURES",
    "busy_error",
    "database_error",
    "is_conflict",
    "is_refused_setup",
    "is_unreachable",
    "sqlstate",
]
