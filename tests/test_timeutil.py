"""Time helpers (timeutil): aware UTC everywhere, ISO-8601 with an offset on the wire, strict parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.timeutil import ensure_utc, iso, parse_timestamp, utcnow


def test_now_is_aware_utc():
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_naive_times_are_taken_as_utc_and_others_converted():
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert ensure_utc(naive) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert ensure_utc(paris) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) and ensure_utc(paris).tzinfo is UTC


def test_iso_always_carries_the_utc_offset():
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 6000)) == "2026-01-02T03:04:05.006000+00:00"
    assert iso(datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-01-02T03:04:05+00:00"
    assert iso(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (" 2026-01-02T03:04:05z ", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
def test_iso_8601_input_is_parsed_to_aware_utc(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed.tzinfo is UTC
    assert parse_timestamp(iso(parsed) or "") == parsed  # what the server writes, it reads back


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "2026-13-01", "1700000000"])
def test_anything_else_is_invalid_and_names_the_field(text):
    with pytest.raises(InvalidArgumentError) as caught:
        parse_timestamp(text, field="since_ts")
    assert caught.value.message.startswith("since_ts")
    assert "2026-01-01T00:00:00Z" in (caught.value.hint or "")
