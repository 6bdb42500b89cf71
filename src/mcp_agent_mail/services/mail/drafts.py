"""A message before it is stored: its fields, each checked and cleaned."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mcp_agent_mail.errors import InvalidArgumentError

IMPORTANCE_LEVELS = ("low", "normal", "high", "urgent")
SUBJECT_MAX = 200
BODY_MAX_BYTES = 1024 * 1024
_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Draft:
    """A validated message, ready to store."""

    subject: str
    body_md: str
    importance: str
    ack_required: bool
    thread_id: str | None
    topic: str | None
    notices: tuple[str, ...] = ()
    attachments: tuple[dict[str, Any], ...] = ()


def check_importance(value: str) -> str:
    """Return the lowercase importance, or raise INVALID_ARGUMENT if it is not low|normal|high|urgent."""
    cleaned = (value or "").strip().lower() if isinstance(value, str) else ""
    if cleaned not in IMPORTANCE_LEVELS:
        raise InvalidArgumentError(
            f"importance {value!r} is not one of {', '.join(IMPORTANCE_LEVELS)}.",
            hint="Use normal unless the message really is high or urgent.",
        )
    return cleaned


def check_subject(value: str, notices: list[str]) -> str:
    """Return the trimmed subject, cut to 200 characters (adding a notice), or raise if empty."""
    cleaned = (value or "").strip() if isinstance(value, str) else ""
    if not cleaned:
        raise InvalidArgumentError("subject is empty.", hint="Give the message a short subject line.")
    if len(cleaned) > SUBJECT_MAX:
        notices.append(f"subject was {len(cleaned)} characters and was cut to {SUBJECT_MAX}.")
        cleaned = cleaned[:SUBJECT_MAX].rstrip()
    return cleaned


def check_body(value: str) -> str:
    """Return the Markdown body, or raise if it is not a string or larger than 1 MiB."""
    if not isinstance(value, str):
        raise InvalidArgumentError("body_md must be a string of Markdown.")
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > BODY_MAX_BYTES:
        raise InvalidArgumentError(
            f"body_md is {size} bytes; the limit is {BODY_MAX_BYTES} bytes.",
            hint="Shorten the body or split it into several messages in one thread.",
        )
    return value


def check_thread_id(value: str | None) -> str | None:
    """Return the trimmed thread id (None when blank), or raise if it has invalid characters."""
    if value is None:
        return None
    cleaned = str(value).strip()
    if not cleaned:
        return None
    if not _THREAD_ID.match(cleaned):
        raise InvalidArgumentError(
            f"thread_id {value!r} is not valid.",
            hint="Use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. FEAT-123 or 42).",
        )
    return cleaned


def check_topic(value: str | None) -> str | None:
    """Return the trimmed topic (None when blank), or raise if it is not 1-64 of [A-Za-z0-9_-]."""
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        return None
    if not _TOPIC.match(cleaned):
        raise InvalidArgumentError(
            f"topic {value!r} is not valid.", hint="Use 1-64 letters, digits, '_' or '-', e.g. build-status."
        )
    return cleaned


__all__ = [
    "BODY_MAX_BYTES",
    "IMPORTANCE_LEVELS",
    "SUBJECT_MAX",
    "Draft",
    "check_body",
    "check_importance",
    "check_subject",
    "check_thread_id",
    "check_topic",
]
