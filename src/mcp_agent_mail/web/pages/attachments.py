"""Attachments of a message, served as stored: raster images inline, anything else as a download, sandboxed."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.mail.attachment_download import image_paths, message_attachment
from mcp_agent_mail.web.errors import bad_request

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOWNLOAD_TYPE = "application/octet-stream"
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/]+')
_ASCII_FALLBACK = re.compile(r"[^A-Za-z0-9._ -]+")


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def disposition(kind: str, name: str) -> str:
    """Return a ``Content-Disposition`` value naming the file safely (ASCII fallback and UTF-8 form)."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip(" .") or "attachment"
    fallback = _ASCII_FALLBACK.sub("_", cleaned) or "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


async def attachment(request: Request) -> Response:
    """Send one attachment of a message of the project with a content type that cannot run in the page."""
    params = request.path_params
    message_id, index = _number(params["message_id"]), _number(params["index"])
    if message_id is None:
        return bad_request(request, f"Message id {params['message_id']!r} is not a number.")
    if index is None:
        return bad_request(request, f"Attachment index {params['index']!r} is not a number (0 is the first).")
    found = await message_attachment(params["project"], message_id, index)
    media = found.media_type.lower().strip()
    inline = media in INLINE_TYPES
    headers = {
        "Content-Disposition": disposition("inline" if inline else "attachment", found.name),
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    return Response(found.data, media_type=media if inline else DOWNLOAD_TYPE, headers=headers)


def attachment_image_urls(request: Request, project: str, message_id: int, attachments: list[Any]) -> dict[str, str]:
    """Map the archive paths a body uses for its stored images to their URLs here (for ``render_markdown``)."""
    return {
        path: str(request.url_for("attachment", project=project, message_id=str(message_id), index=str(index)).path)
        for path, index in image_paths(attachments).items()
    }


routes: list[BaseRoute] = [
    Route(
        "/projects/{project}/messages/{message_id}/attachments/{index}",
        attachment,
        methods=["GET"],
        name="attachment",
    )
]

__all__ = ["attachment", "attachment_image_urls", "disposition", "routes"]
