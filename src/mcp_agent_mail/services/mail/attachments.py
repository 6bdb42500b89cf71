"""Attachments: files and Markdown images taken from the project's repository, images converted to WebP.

Paths resolve against the project's directory (its human key), which must be a source root
(:mod:`.source_roots`): the top of a Git work tree or a directory under ATTACHMENT_ROOTS, never a
system, home or mailbox directory. Small images are inlined
in the body as ``data:image/webp;base64,...``; larger ones and other files are stored
content-addressed (SHA-256 of the stored bytes) in ``attachment_blobs`` and written by the
archive writer to ``projects/<slug>/attachments/<sha[:2]>/<sha><ext>``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import WriteTransaction, schema
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.mail import source_roots
from mcp_agent_mail.timeutil import utcnow

MAX_ATTACHMENTS = 20
WEBP_QUALITY = 80
WEBP_METHOD = 4
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"})
IMAGE_REF = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<lead>[ \t]*)(?P<target>[^)\s]+)(?P<rest>[^)\n]*)\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_DATA_TYPE = re.compile(r"^data:([\w.+-]+/[\w.+-]+)")
_EXT = re.compile(r"^\.[a-z0-9]{1,10}$")


@dataclass
class Prepared:
    """A body with its images resolved, the attachment metadata and the blobs to store."""

    body_md: str
    metas: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Converted:
    data: bytes
    media_type: str
    width: int | None = None
    height: int | None = None


def has_images(body_md: str) -> bool:
    """Tell whether a body contains a Markdown image reference."""
    return IMAGE_REF.search(body_md) is not None


def check_paths(values: Sequence[str] | str | None) -> list[str]:
    """Validate the attachment_paths argument (a list of non-empty strings)."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    cleaned: list[str] = []
    for index, value in enumerate(items):
        text = value.strip() if isinstance(value, str) else ""
        if not text or "\x00" in text:
            raise InvalidArgumentError(
                f"attachment_paths[{index}] is empty or not a path.",
                hint="Give paths relative to the repository, e.g. docs/diagram.png.",
            )
        cleaned.append(text)
    if len(cleaned) > MAX_ATTACHMENTS:
        raise InvalidArgumentError(f"Too many attachments ({len(cleaned)}); at most {MAX_ATTACHMENTS} are allowed.")
    return cleaned


def _not_a_source(problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"Files cannot be attached from this project's directory: {problem}.", hint=source_roots.HINT
    )


def _outside(raw: str, root: Path, *, absolute_allowed: bool) -> InvalidArgumentError:
    if absolute_allowed:
        return InvalidArgumentError(
            f"Attachment {raw!r} is outside the project directory {str(root)!r} and outside any other source of "
            "files (a Git work tree or a directory under ATTACHMENT_ROOTS).",
            hint=source_roots.HINT,
        )
    return InvalidArgumentError(
        f"Attachment {raw!r} is outside the project directory {str(root)!r}.",
        hint="Attach files from inside the repository, with a path relative to it (e.g. docs/diagram.png).",
    )


def locate(raw: str, root: Path, settings: Settings) -> Path:
    """Return the real path of an attachment inside the project's source root ``root``, or raise.

    Relative paths resolve against ``root`` and must stay inside it after symlinks are resolved.
    Absolute paths must lie inside it too, unless ALLOW_ABSOLUTE_ATTACHMENT_PATHS is set: then they
    may lie in another source root. Nothing inside a ``.git`` directory is read. A missing file is
    NOT_FOUND.
    """
    given = Path(raw)
    candidate = given if given.is_absolute() else root / given
    try:
        real = candidate.resolve()
        real.is_file()  # surfaces ENAMETOOLONG, ELOOP and the like before the checks below
    except (OSError, RuntimeError) as exc:
        raise InvalidArgumentError(
            f"Attachment path {raw[:200]!r} cannot be used: {getattr(exc, 'strerror', None) or exc}.",
            hint="Give a path relative to the repository, e.g. docs/diagram.png.",
        ) from exc
    source = root
    if not real.is_relative_to(root):
        allowed = given.is_absolute() and settings.storage.allow_absolute_attachment_paths
        other = source_roots.enclosing_source(real, settings) if allowed else None
        if other is None:
            raise _outside(raw, root, absolute_allowed=allowed)
        source = other
    if ".git" in real.relative_to(source).parts:
        raise InvalidArgumentError(
            f"Attachment {raw!r} is inside the repository's Git metadata (.git).",
            hint="Attach files of the work tree, e.g. docs/diagram.png.",
        )
    if not real.exists():
        raise NotFoundError(
            f"Attachment {raw!r} not found (looked at {str(candidate)!r}).",
            hint=f"Paths are relative to the project directory {str(root)!r}; check the spelling.",
        )
    if not real.is_file():
        raise InvalidArgumentError(f"Attachment {raw!r} is not a regular file.")
    return real


def _read(path: Path, raw: str, settings: Settings) -> bytes:
    limit = settings.storage.attachment_max_bytes
    size = path.stat().st_size
    if size > limit:
        raise InvalidArgumentError(
            f"Attachment {raw!r} is {size} bytes; the limit is {limit} byte{'' if limit == 1 else 's'} "
            "(ATTACHMENT_MAX_BYTES).",
            hint="Attach a smaller file, or commit it to the repository and mention its path instead.",
        )
    return path.read_bytes()


def _image_format(data: bytes) -> str | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format if img.format in IMAGE_FORMATS else None
    except Exception:  # Pillow raises many types for "not an image"
        return None


def to_webp(data: bytes, raw: str) -> _Converted:
    """Convert image bytes to WebP, keeping transparency (palette transparency included)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            converted = img.convert("RGBA" if alpha else "RGB")
            out = io.BytesIO()
            converted.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
            return _Converted(out.getvalue(), "image/webp", converted.width, converted.height)
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidArgumentError(f"Image {raw!r} cannot be converted: {exc}.") from exc


def _extension(name: str, fallback: str = ".bin") -> str:
    ext = Path(name).suffix.lower()
    return ext if _EXT.match(ext) else fallback


class _Builder:
    """Collects metadata and blobs for one message."""

    def __init__(self, slug: str, policy: str, settings: Settings, root: Path | None, refusal: str | None) -> None:
        self.slug = slug
        self.policy = policy
        self.settings = settings
        self.root = root
        self.refusal = refusal
        self.result = Prepared(body_md="")
        self.seen: dict[str, str] = {}

    def _store(self, converted: _Converted, name: str, ext: str) -> tuple[dict[str, Any], str]:
        sha = hashlib.sha256(converted.data).hexdigest()
        path = f"projects/{self.slug}/attachments/{sha[:2]}/{sha}{ext}"
        meta: dict[str, Any] = {
            "type": "file",
            "media_type": converted.media_type,
            "bytes": len(converted.data),
            "sha256": sha,
            "name": name,
            "path": path,
        }
        self.result.blobs[sha] = (converted.media_type, converted.data)
        return meta, "/" + path

    def image(self, data: bytes, name: str, raw: str) -> tuple[dict[str, Any], str]:
        """Convert an image; return its metadata and the reference to use in Markdown."""
        converted = to_webp(data, raw)
        inline = self.policy == "inline" or (
            self.policy != "file" and len(converted.data) <= self.settings.storage.inline_image_max_bytes
        )
        if inline:
            sha = hashlib.sha256(converted.data).hexdigest()
            meta: dict[str, Any] = {
                "type": "inline",
                "media_type": "image/webp",
                "bytes": len(converted.data),
                "sha256": sha,
                "name": name,
            }
            ref = "data:image/webp;base64," + base64.b64encode(converted.data).decode("ascii")
        else:
            meta, ref = self._store(converted, name, ".webp")
        meta.update(width=converted.width, height=converted.height)
        return meta, ref

    def file(self, data: bytes, name: str, image_format: str | None) -> tuple[dict[str, Any], str]:
        """Store a file as it is; return its metadata and reference."""
        media = mimetypes.guess_type(name)[0] or (
            f"image/{image_format.lower()}" if image_format else "application/octet-stream"
        )
        return self._store(_Converted(data, media), name, _extension(name))


def _ref_in_body(builder: _Builder, match: re.Match[str], convert: bool) -> str:
    target = match["target"]
    whole = match.group(0)
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if target.startswith("data:"):
        media = _DATA_TYPE.match(target)
        builder.result.metas.append({"type": "inline", "media_type": media.group(1) if media else "image/webp"})
        return whole
    if not convert or _SCHEME.match(target) or target.startswith("#"):
        return whole
    settings = builder.settings
    if builder.root is None:
        builder.result.notices.append(f"image {target!r} in the body is left as written: {builder.refusal}.")
        return whole
    try:
        path = locate(target, builder.root, settings)
    except NotFoundError:
        builder.result.notices.append(f"image {target!r} in the body was not found and is left as written.")
        return whole
    data = _read(path, target, settings)
    if _image_format(data) is None:
        builder.result.notices.append(f"{target!r} in the body is not an image and is left as written.")
        return whole
    meta, ref = builder.image(data, path.name, target)
    digest = hashlib.sha256(data).hexdigest()
    if digest not in builder.seen:
        builder.seen[digest] = target
        builder.result.metas.append(meta)
    return f"![{match['alt']}]({match['lead']}{ref}{match['rest']})"


def prepare(
    body_md: str,
    attachment_paths: list[str],
    *,
    project_dir: str,
    slug: str,
    attachments_policy: str,
    convert_images: bool | None,
    settings: Settings,
) -> Prepared:
    """Resolve body images and attachment paths; convert images; return the new body and metadata."""
    policy = attachments_policy if attachments_policy in ("inline", "file") else "auto"
    convert = (
        True
        if policy != "auto"
        else (settings.storage.convert_images if convert_images is None else bool(convert_images))
    )
    refusal = source_roots.refusal(project_dir, settings)
    if refusal is not None and attachment_paths:
        raise _not_a_source(refusal)
    root = Path(os.path.realpath(project_dir)) if refusal is None else None
    builder = _Builder(slug, policy, settings, root, refusal)
    files = [(raw, locate(raw, root, settings)) for raw in attachment_paths if root is not None]
    contents = [(raw, path, _read(path, raw, settings)) for raw, path in files]
    body = IMAGE_REF.sub(lambda m: _ref_in_body(builder, m, convert), body_md)
    appended: list[str] = []
    for raw, path, data in contents:
        digest = hashlib.sha256(data).hexdigest()
        if digest in builder.seen:
            continue
        builder.seen[digest] = raw
        image_format = _image_format(data)
        if image_format is not None and convert:
            meta, ref = builder.image(data, path.name, raw)
            appended.append(f"![{path.name}]({ref})")
        else:
            meta, ref = builder.file(data, path.name, image_format)
        builder.result.metas.append(meta)
    if appended:
        body = body.rstrip("\n") + ("\n\n" if body.strip() else "") + "\n\n".join(appended)
    builder.result.body_md = body
    return builder.result


async def store_blobs(
    session: WriteTransaction, blobs: dict[str, tuple[str, bytes]], created_ts: datetime | None = None
) -> None:
    """Insert blobs not stored yet (content-addressed, so an existing row is the same bytes)."""
    if not blobs:
        return
    now = created_ts or utcnow()
    b = schema.attachment_blobs
    present = set((await session.execute(select(b.c.sha256).where(b.c.sha256.in_(list(blobs))))).scalars())
    rows = [
        {"sha256": sha, "media_type": media, "bytes": len(data), "data": data, "created_ts": now}
        for sha, (media, data) in blobs.items()
        if sha not in present
    ]
    if rows:
        await session.execute(insert(b), rows)
