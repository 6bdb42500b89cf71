"""Column types: timestamps are aware UTC in Python and sortable text in SQLite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from mcp_agent_mail.timeutil import ensure_utc

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes; stored as fixed-width text on SQLite so text order is time order."""

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use native timestamps where the backend has them."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Convert an aware datetime into the stored form."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        value = ensure_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).strftime(_SQLITE_FORMAT)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Convert the stored form back into an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return ensure_utc(value)


def to_db_text(value: datetime) -> str:
    """Render an aware datetime the way SQLite rows store it (for raw SQL parameters)."""
    return ensure_utc(value).replace(tzinfo=None).strftime(_SQLITE_FORMAT)
