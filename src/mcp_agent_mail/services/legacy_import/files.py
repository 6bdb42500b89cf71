"""Carry a message's attachments across: copy the files it references from the original's archive.

The original kept file attachments as WebP images under
``projects/<slug>/attachments/<sha1[:2]>/<sha1>.webp`` and named that path in the
message's metadata and body. Each such file is read (checked: inside the
archive folder, a regular file, at most ATTACHMENT_MAX_BYTES), stored
content-addressed by SHA-256 as this program stores attachments, and the body's
references are pointed at the new path. Inline images stay in the body; their
metadata loses the duplicate base64 copy. A file that is missing or refused is
reported, and its metadata says ``"type": "missing"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from mcp_agent_mail.services.legacy_import import values as v
from mcp_agent_mail.services.legacy_import.report import ImportReport
from mcp_agent_mail.services.legacy_import.source import read_archive_file

_EXT = re.compile(r"^\.[a-z0-9]{1,10}$")
_KIND = "attachments"


@dataclass
class Carried:
    """A message's new attachment metadata and body, and the blobs to store (sha256 -> row)."""

    metas: list[dict[str, Any]]
    body: str


def _dimensions(meta: dict[str, Any], into: dict[str, Any]) -> None:
    for key in ("width", "height"):
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
            into[key] = value


def _inline(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "inline", "media_type": v.media_type(meta.get("media_type"), "image/webp")}
    encoded = meta.get("data_base64")
    if isinstance(encoded, str):
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            data = None
        if data is not None:
            out.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    _dimensions(meta, out)
    return out


class AttachmentCopier:
    """Copies the files of every imported message once (the same file is stored once)."""

    def __init__(self, storage: Path, max_bytes: int, report: ImportReport) -> None:
        self.storage = storage
        self.max_bytes = max_bytes
        self.report = report
        self.blobs: dict[str, dict[str, Any]] = {}
        self._by_path: dict[str, tuple[str, str] | str] = {}

    def _load(self, rel: str, media: str, created: datetime) -> tuple[str, str] | str:
        """Return (sha256, media type) of a stored file, or the reason it was not copied."""
        if rel in self._by_path:
            return self._by_path[rel]
        try:
            data = read_archive_file(self.storage, rel, self.max_bytes)
        except FileNotFoundError:
            found: tuple[str, str] | str = "the file is missing from the original's archive"
        except (ValueError, OSError) as exc:
            found = f"refused: {exc}"
        else:
            sha = hashlib.sha256(data).hexdigest()
            guessed = mimetypes.guess_type(rel)[0] or "application/octet-stream"
            kind = v.media_type(media, guessed)
            blob = self.blobs.get(sha)
            if blob is None or created < blob["created_ts"]:
                self.blobs[sha] = {
                    "sha256": sha,
                    "media_type": kind,
                    "bytes": len(data),
                    "data": data,
                    "created_ts": created,
                }
            found = (sha, kind)
        self._by_path[rel] = found
        return found

    def _file(self, meta: dict[str, Any], slug: str, created: datetime, what: str) -> tuple[dict[str, Any], str | None]:
        rel = meta.get("path")
        name = PurePosixPath(rel).name if isinstance(rel, str) else "attachment"
        if not isinstance(rel, str):
            self.report.skip(_KIND, "a file attachment names no path", what)
            return {"type": "missing", "name": name}, None
        loaded = self._load(rel, str(meta.get("media_type") or ""), created)
        if isinstance(loaded, str):
            self.report.skip(_KIND, loaded, f"{what}: {rel[:120]}")
            missing = {"type": "missing", "name": name, "original_path": rel[:512]}
            missing["media_type"] = v.media_type(meta.get("media_type"), "application/octet-stream")
            return missing, None
        sha, media = loaded
        ext = PurePosixPath(rel).suffix.lower()
        path = f"projects/{slug}/attachments/{sha[:2]}/{sha}{ext if _EXT.match(ext) else '.bin'}"
        out: dict[str, Any] = {"type": "file", "media_type": media, "bytes": self.blobs[sha]["bytes"], "sha256": sha}
        out.update(name=name, path=path)
        _dimensions(meta, out)
        self.report.count(_KIND)
        return out, path

    def carry(self, raw: Any, body: str, slug: str, created: datetime, what: str) -> Carried:
        """Return the message's attachments in this program's form and its body pointing at the copies."""
        if raw is None or raw == "":
            return Carried([], body)
        try:
            metas = v.json_value(raw, "attachments")
            if not isinstance(metas, list):
                raise v.BadValue("attachments is not a JSON list")
        except v.BadValue as exc:
            self.report.skip(_KIND, str(exc), what)
            return Carried([], body)
        result: list[dict[str, Any]] = []
        for meta in metas:
            kind = meta.get("type") if isinstance(meta, dict) else None
            if not isinstance(meta, dict) or kind not in ("file", "inline"):
                self.report.skip(_KIND, "an attachment entry of an unknown kind", what)
                continue
            if kind == "inline":
                result.append(_inline(meta))
                continue
            new_meta, new_path = self._file(meta, slug, created, what)
            result.append(new_meta)
            old = meta.get("path")
            if new_path is not None and isinstance(old, str) and old:
                body = body.replace("/" + old, "/" + new_path).replace(old, "/" + new_path)
        return Carried(result, body)


__all__ = ["AttachmentCopier", "Carried"]
