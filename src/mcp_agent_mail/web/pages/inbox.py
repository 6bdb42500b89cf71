"""The unified inbox: every project's mail, newest first, filtered and paged, with a JSON feed for live updates."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services.identity.overview import check_page, projects_overview
from mcp_agent_mail.services.mail.browse import InboxFilters, unified_inbox
from mcp_agent_mail.services.mail.drafts import IMPORTANCE_LEVELS
from mcp_agent_mail.web.errors import WebError
from mcp_agent_mail.web.pages._query import choice_param, flag_param, int_param, text_param
from mcp_agent_mail.web.templating import exact_time, render

PER_PAGE = 50
LIVE_LIMIT = 50


def _filters(request: Request) -> InboxFilters:
    return InboxFilters(
        project=text_param(request, "project"),
        importance=choice_param(request, "importance", IMPORTANCE_LEVELS),
        unread=flag_param(request, "unread"),
        ack=flag_param(request, "ack"),
        sender=text_param(request, "sender", max_length=128),
    )


def filter_query(filters: InboxFilters) -> dict[str, str]:
    """Return the non-empty filters as query parameters."""
    pairs = {
        "project": filters.project,
        "importance": filters.importance,
        "unread": "1" if filters.unread else "",
        "ack": "1" if filters.ack else "",
        "sender": filters.sender,
    }
    return {key: value for key, value in pairs.items() if value}


def message_url(request: Request, item: dict[str, Any]) -> str:
    """Return the path of a listed message's page."""
    return str(request.url_for("message", project=item["project"], message_id=str(item["id"])).path)


async def inbox_page(request: Request) -> Response:
    """Show the unified inbox with its filters; app.js polls the JSON feed and adds new rows on top."""
    filters = _filters(request)
    page = check_page(int_param(request, "page", 1), PER_PAGE)
    data = await unified_inbox(filters, page)
    projects = await projects_overview(check_page(1, 200))
    query = filter_query(filters)
    live = str(request.url_for("api_inbox").path) + ("?" + urlencode(query) if query else "")
    newest = data["messages"][0]["id"] if data["messages"] and page.number == 1 else 0
    return render(
        request,
        "inbox.html",
        {
            **data,
            "filters": filters,
            "importance_levels": IMPORTANCE_LEVELS,
            "projects": projects["projects"],
            "live_url": live if page.number == 1 else "",
            "newest_id": newest,
            "message_url": lambda item: message_url(request, item),
            "page_url": lambda n: f"{request.url.path}?{urlencode({**query, 'page': n})}",
        },
    )


def _json_error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def inbox_feed(request: Request) -> Response:
    """Return, as JSON, up to 50 messages newer than ``after`` that match the inbox filters (oldest last)."""
    try:
        filters = _filters(request)
        after = int_param(request, "after", 0, minimum=0, maximum=2**62)
        data = await unified_inbox(filters, check_page(1, LIVE_LIMIT), after=after)
    except WebError as exc:
        return _json_error(exc.status, exc.message, "INVALID_ARGUMENT")
    except AgentMailError as exc:
        return _json_error(exc.http_status, exc.message, exc.code)
    messages = []
    for item in data["messages"]:
        recipients = ", ".join(item["to"] + item["cc"])
        messages.append(
            {
                **{key: item[key] for key in ("id", "project", "subject", "importance", "sender", "created_ts")},
                "ack_required": item["ack_required"],
                "unread_count": item["unread_count"],
                "unacked_count": item["unacked_count"],
                "recipients_text": recipients,
                "created_exact": exact_time(item["created_ts"]),
                "url": message_url(request, item),
            }
        )
    return JSONResponse({"messages": messages, "has_more": data["has_more"]}, headers={"Cache-Control": "no-store"})


routes: list[BaseRoute] = [
    Route("/", inbox_page, methods=["GET"], name="inbox"),
    Route("/api/inbox", inbox_feed, methods=["GET"], name="api_inbox"),
]
