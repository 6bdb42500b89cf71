"""Where each database object lives in the archive work tree (repo-relative POSIX paths)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from mcp_agent_mail.timeutil import ensure_utc

_SUBJECT_RUN = re.compile(r"[^a-zA-Z0-9._-]+")
_UNSAFE = re.compile(r"[/\\\x00-\x1f]")
_THREAD_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MESSAGE_ID_SUFFIX = re.compile(r"__(\d+)\.md$")
GITATTRIBUTES = b"*.json text\n*.md text\n"


def safe_component(value: str) -> str:
    """Return ``value`` usable as one path component (no separators, never ``.``/``..``)."""
    cleaned = _UNSAFE.sub("_", value.strip()) or "_"
    if cleaned in (".", ".."):
        cleaned = cleaned.replace(".", "_")
    return cleaned


def subject_slug(subject: str) -> str:
    """Return the file-name form of a subject: lowercase, ``-`` for other runs, at most 80 chars."""
    slug = _SUBJECT_RUN.sub("-", subject or "").strip("-_").lower()[:80].strip("-_")
    return slug or "message"


def valid_thread_key(key: str | None) -> bool:
    """Tell whether a thread key can name a digest file."""
    return bool(key) and _THREAD_KEY.match(key or "") is not None


def project_dir(slug: str) -> str:
    """Return the folder of a project."""
    return f"projects/{safe_component(slug)}"


def project_file(slug: str) -> str:
    """Return the path of ``project.json``."""
    return f"{project_dir(slug)}/project.json"


def agent_dir(slug: str, name: str) -> str:
    """Return the folder of an agent."""
    return f"{project_dir(slug)}/agents/{safe_component(name)}"


def profile_file(slug: str, name: str) -> str:
    """Return the path of an agent's ``profile.json``."""
    return f"{agent_dir(slug, name)}/profile.json"


@lru_cache(maxsize=4096)
def message_filename(created: datetime, subject: str, message_id: int) -> str:
    """Return ``<YYYY-MM-DDTHH-MM-SSZ>__<subject-slug>__<id>.md``."""
    utc = ensure_utc(created)
    stamp = f"{utc.year}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}-{utc.minute:02d}-{utc.second:02d}Z"
    return f"{stamp}__{subject_slug(subject)}__{int(message_id)}.md"


def _month(created: datetime) -> str:
    utc = ensure_utc(created)
    return f"{utc.year}/{utc.month:02d}"


def canonical_message_file(slug: str, created: datetime, subject: str, message_id: int) -> str:
    """Return the canonical copy of a message."""
    return f"{project_dir(slug)}/messages/{_month(created)}/{message_filename(created, subject, message_id)}"


def mailbox_file(slug: str, name: str, box: str, created: datetime, subject: str, message_id: int) -> str:
    """Return an agent's ``inbox`` or ``outbox`` copy of a message."""
    return f"{agent_dir(slug, name)}/{box}/{_month(created)}/{message_filename(created, subject, message_id)}"


def thread_digest_file(slug: str, key: str) -> str:
    """Return the digest of one thread."""
    return f"{project_dir(slug)}/messages/threads/{safe_component(key)}.md"


def reservation_file(slug: str, reservation_id: int) -> str:
    """Return the JSON file of one file reservation."""
    return f"{project_dir(slug)}/file_reservations/id-{int(reservation_id)}.json"


def relative_link(from_file: str, to_file: str) -> str:
    """Return the relative link from one repo path to another (POSIX)."""
    src = from_file.split("/")[:-1]
    dst = to_file.split("/")
    common = 0
    while common < min(len(src), len(dst) - 1) and src[common] == dst[common]:
        common += 1
    return "/".join([".."] * (len(src) - common) + dst[common:])
