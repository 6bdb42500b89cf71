"""The project reservations page: active, expired or released leases, with holders, expiry and overlaps flagged."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.reservations.board import MAX_PAGE, STATUSES, reservation_board
from mcp_agent_mail.web.pages._query import choice_param, int_param
from mcp_agent_mail.web.templating import render

PER_PAGE = 50


async def project_reservations(request: Request) -> Response:
    """List one status of a project's reservations, newest first; active ones show overlaps with other holders."""
    status = choice_param(request, "status", STATUSES, "active")
    page = int_param(request, "page", 1, maximum=MAX_PAGE)
    board = await reservation_board(request.path_params["project"], status=status, page=page, page_size=PER_PAGE)

    def page_url(number: int) -> str:
        return f"{request.url.path}?{urlencode({'status': status, 'page': number})}"

    return render(
        request,
        "reservations.html",
        {"board": board, "statuses": STATUSES, "page": page, "has_more": board.has_next, "page_url": page_url},
    )


routes: list[BaseRoute] = [
    Route("/projects/{project}/reservations", project_reservations, methods=["GET"], name="project_reservations"),
]
