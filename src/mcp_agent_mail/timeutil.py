"""Timezone-aware UTC time helpers shared by every layer."""

from __future__ import annotations

from datetime import UTC, datetime

from mcp_agent_mail.errors import InvalidArgumentError


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC, treating naive values as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """Render a datetime as ISO-8601 with a ``+00:00`` offset (None stays None)."""
    if value is None:
        return None
    return ensure_utc(value).isoformat()


def parse_timestamp(value: str, *, field: str = "timestamp") -> datetime:
    """Parse an ISO-8601 string (``Z`` allowed; naive means UTC) into aware UTC."""
    text = (value or "").strip()
    if not text:
        raise InvalidArgumentError(f"{field} is empty.", hint="Pass an ISO-8601 time such as 2026-01-01T00:00:00Z.")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"{field} {value!r} is not an ISO-8601 time.",
            hint="Pass an ISO-8601 time such as 2026-01-01T00:00:00Z.",
        ) from exc
    return ensure_utc(parsed)
