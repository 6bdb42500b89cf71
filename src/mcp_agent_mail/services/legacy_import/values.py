"""Read one value of an untrusted row of the original mailbox, or say why it cannot be read.

Every reader raises :class:`BadValue` with a short reason; the mapper turns that
into a counted, skipped row. Timestamps of the original are naive UTC (or, from
some writers, ISO-8601 with an offset); both become aware UTC.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]{1,64}/[\w.+-]{1,64}$")
_MAX_ID = 2**63 - 1


class BadValue(ValueError):
    """A value of a source row that cannot be imported (the message says why)."""


def row_id(row: dict[str, Any], column: str = "id") -> int:
    """Return a positive integer id (refuses text, floats, booleans and out-of-range numbers)."""
    value = row.get(column)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"{column} is not an integer")
    if not 0 < value <= _MAX_ID:
        raise BadValue(f"{column} {value} is out of range")
    return value


def timestamp(row: dict[str, Any], column: str, *, required: bool = True) -> datetime | None:
    """Return a timestamp as aware UTC (naive values are UTC); None only when optional and empty."""
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadValue(f"{column} is missing")
        return None
    if not isinstance(value, str):
        raise BadValue(f"{column} is not a timestamp")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{column} {value[:40]!r} is not a timestamp") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def text(row: dict[str, Any], column: str, limit: int, *, default: str | None = None) -> str:
    """Return a string column cut to ``limit`` characters (``default`` when NULL, else refused)."""
    value = row.get(column)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise BadValue(f"{column} is not text")
    if "\x00" in value:
        raise BadValue(f"{column} contains a NUL character")
    return value[:limit]


def flag(row: dict[str, Any], column: str, default: bool) -> bool:
    """Return a boolean stored as 0/1 (NULL gives ``default``)."""
    value = row.get(column)
    if value is None:
        return default
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise BadValue(f"{column} is not a boolean")


def choice(value: Any, allowed: tuple[str, ...]) -> str | None:
    """Return ``value`` lower-cased when it is one of ``allowed``, else None."""
    if not isinstance(value, str):
        return None
    cleaned = value.strip().lower()
    return cleaned if cleaned in allowed else None


def thread_id(value: Any) -> str | None:
    """Return a valid thread id, None for an empty one; refuse anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or _THREAD_ID.match(value.strip()) is None:
        raise BadValue("thread_id is not a valid thread id")
    return value.strip()


def window_uuid(value: Any) -> str:
    """Return a window UUID in its lower-case canonical form."""
    try:
        return str(uuid.UUID(str(value).strip()))
    except (ValueError, AttributeError):
        raise BadValue("window_uuid is not a UUID") from None


def json_value(value: Any, column: str) -> Any:
    """Decode a JSON column held as text (a value SQLite already holds as a number stays itself)."""
    if not isinstance(value, str):
        raise BadValue(f"{column} is not JSON text")
    try:
        return json.loads(value)
    except ValueError:
        raise BadValue(f"{column} is not valid JSON") from None


def media_type(value: Any, fallback: str) -> str:
    """Return a ``type/subtype`` media type, or ``fallback`` when the value is not one."""
    if isinstance(value, str) and _MEDIA_TYPE.match(value.strip()):
        return value.strip().lower()
    return fallback


__all__ = [
    "BadValue",
    "choice",
    "flag",
    "json_value",
    "media_type",
    "row_id",
    "text",
    "thread_id",
    "timestamp",
    "window_uuid",
]
