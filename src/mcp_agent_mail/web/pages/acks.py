"""The project acknowledgements page: acknowledgements still owed, stale, overdue or all, oldest first."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.mail.ack_board import MAX_PAGE, MAX_TTL_MINUTES, STATES, waiting_acks
from mcp_agent_mail.web.pages._query import choice_param, int_param
from mcp_agent_mail.web.templating import render

PER_PAGE = 50


async def project_acks(request: Request) -> Response:
    """List acknowledgements the project's agents still owe, filtered by how long they have waited."""
    state = choice_param(request, "state", STATES, "stale")
    raw_ttl = request.query_params.get("ttl_minutes")
    ttl = int_param(request, "ttl_minutes", 60, maximum=MAX_TTL_MINUTES) if raw_ttl else None
    page = int_param(request, "page", 1, maximum=MAX_PAGE)
    board = await waiting_acks(
        request.path_params["project"], state=state, ttl_minutes=ttl, page=page, page_size=PER_PAGE
    )

    def page_url(number: int) -> str:
        query: dict[str, object] = {"state": state, "page": number}
        if ttl is not None:
            query["ttl_minutes"] = ttl
        return f"{request.url.path}?{urlencode(query)}"

    return render(
        request,
        "acks.html",
        {
            "board": board,
            "states": STATES,
            "ttl_minutes": ttl if ttl is not None else 60,
            "page": page,
            "has_more": board.has_next,
            "page_url": page_url,
        },
    )


routes: list[BaseRoute] = [Route("/projects/{project}/acks", project_acks, methods=["GET"], name="project_acks")]
