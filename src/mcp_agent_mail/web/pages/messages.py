"""One message (body, recipients, attachments, its thread and archive commit) and one whole thread."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.identity.overview import check_page
from mcp_agent_mail.services.mail.browse import message_detail, thread_detail
from mcp_agent_mail.services.mail.trail import message_commit
from mcp_agent_mail.web.markdown import render_markdown
from mcp_agent_mail.web.pages._query import int_param, path_int
from mcp_agent_mail.web.templating import render

THREAD_PER_PAGE = 50


def attachment_url(project: str, message_id: int, index: int) -> str:
    """Return the address that serves a message's attachment number ``index``."""
    return f"/mail/projects/{project}/messages/{message_id}/attachments/{index}"


def body_html(project: str, message: dict[str, Any]) -> Markup:
    """Render a message body, pointing images at the message's own stored attachments."""
    images = {
        str(meta["path"]): attachment_url(project, message["id"], index)
        for index, meta in enumerate(message.get("attachments") or [])
        if isinstance(meta, dict) and meta.get("path")
    }
    return render_markdown(message.get("body_md") or "", image_urls=images)


async def message_page(request: Request) -> Response:
    """Show one message of a project with its recipients by kind, attachments, thread and archive commit."""
    project = request.path_params["project"]
    message_id = path_int(request, "message_id")
    message = await message_detail(project, message_id)
    commit = await message_commit(message_id)
    slug = message["project_slug"]
    return render(
        request,
        "message.html",
        {
            "project": slug,
            "message": message,
            "body": body_html(slug, message),
            "commit": commit,
            "attachment_url": lambda index: attachment_url(slug, message_id, index),
        },
    )


async def thread_page(request: Request) -> Response:
    """Show every message of a thread in a project, oldest first, paged."""
    page = check_page(int_param(request, "page", 1), THREAD_PER_PAGE)
    data = await thread_detail(request.path_params["project"], request.path_params["thread_id"], page)
    slug = data["project"]
    for message in data["messages"]:
        message["body_html"] = body_html(slug, message)
    return render(
        request,
        "thread.html",
        {
            **data,
            "attachment_url": lambda message_id, index: attachment_url(slug, message_id, index),
            "page_url": lambda n: f"{request.url.path}?page={n}",
        },
    )


routes: list[BaseRoute] = [
    Route("/projects/{project}/messages/{message_id}", message_page, methods=["GET"], name="message"),
    Route("/projects/{project}/threads/{thread_id}", thread_page, methods=["GET"], name="thread"),
]
