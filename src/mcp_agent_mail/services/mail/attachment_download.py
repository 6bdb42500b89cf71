"""One attachment of one message, as the message stored it: its bytes, media type and file name.

File attachments come from ``attachment_blobs`` (content-addressed by SHA-256), or, when the row
is missing there (a mailbox rebuilt from an older archive), from the archive's copy at the path
the message recorded, accepted only when its SHA-256 matches. Inline images come from the
``data:`` URL in the body whose decoded bytes have the recorded SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.identity.resolve import in_project_scope, resolve_project

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,([A-Za-z0-9+/=]+)")
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class AttachmentFile:
    """The bytes of an attachment with the media type and file name its message recorded."""

    name: str
    media_type: str
    data: bytes


def _missing(message_id: int, index: int) -> NotFoundError:
    return NotFoundError(f"Message {message_id} has no attachment {index}.")


def _inline_bytes(body: str, sha: str) -> bytes | None:
    for match in _DATA_URL.finditer(body):
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            continue
        if hashlib.sha256(data).hexdigest() == sha:
            return data
    return None


def _archived_bytes(path: str, slug: str, sha: str) -> bytes | None:
    """Read the archive's copy when its path is the project's attachment folder and its content matches."""
    normal = posixpath.normpath(path.lstrip("/"))
    if not normal.startswith(f"projects/{slug}/attachments/") or ".." in normal.split("/"):
        return None
    root = Path(get_settings().storage.root).resolve()
    candidate = (root / normal).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    data = candidate.read_bytes()
    return data if hashlib.sha256(data).hexdigest() == sha else None


async def _blob(session: ReadTransaction, sha: str) -> bytes | None:
    b = schema.attachment_blobs
    data = (await session.execute(select(b.c.data).where(b.c.sha256 == sha))).scalar_one_or_none()
    return bytes(data) if data is not None else None


async def message_attachment(project_key: str, message_id: int, index: int) -> AttachmentFile:
    """Return attachment ``index`` (0-based) of a message of the project, or raise NOT_FOUND."""
    m = schema.messages

    async def read(session: ReadTransaction) -> tuple[str, dict[str, Any], str, bytes | None]:
        project = await resolve_project(session, project_key)
        row = (
            (
                await session.execute(
                    select(m.c.attachments, m.c.body_md).where(m.c.id == message_id, in_project_scope(project["id"]))
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"Message {message_id} not found in project {project['slug']!r}.")
        metas = row["attachments"] or []
        if index < 0 or index >= len(metas) or not isinstance(metas[index], dict):
            raise _missing(message_id, index)
        meta = metas[index]
        sha = meta.get("sha256")
        blob = await _blob(session, sha) if isinstance(sha, str) and meta.get("type") == "file" else None
        return str(project["slug"]), meta, str(row["body_md"]), blob

    slug, meta, body, data = await run_read(read)
    sha = meta.get("sha256")
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise _missing(message_id, index)
    if data is None and meta.get("type") == "file" and isinstance(meta.get("path"), str):
        data = _archived_bytes(meta["path"], slug, sha)
    if data is None and meta.get("type") == "inline":
        data = _inline_bytes(body, sha)
    if data is None:
        raise _missing(message_id, index)
    media = meta.get("media_type")
    name = meta.get("name")
    return AttachmentFile(
        name=name if isinstance(name, str) and name else f"attachment-{index}",
        media_type=media if isinstance(media, str) else "application/octet-stream",
        data=data,
    )


def image_paths(attachments: list[Any]) -> dict[str, int]:
    """Map each stored file attachment's archive path (as bodies reference it) to its index."""
    found: dict[str, int] = {}
    for index, meta in enumerate(attachments or []):
        if isinstance(meta, dict) and meta.get("type") == "file" and isinstance(meta.get("path"), str):
            found["/" + meta["path"].lstrip("/")] = index
    return found


__all__ = ["AttachmentFile", "image_paths", "message_attachment"]
