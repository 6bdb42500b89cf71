"""The project search page: the search tool's query language, relevance or time order, marked snippets, paged."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.mail.search import MAX_QUERY_CHARS
from mcp_agent_mail.services.mail.search_page import MAX_PAGE, ORDERS, search_page
from mcp_agent_mail.web.pages._query import choice_param, int_param, text_param
from mcp_agent_mail.web.templating import render

PER_PAGE = 20


async def project_search(request: Request) -> Response:
    """Search a project's mail; a query that cannot be read as written is searched for its words, with a notice."""
    project = request.path_params["project"]
    query = text_param(request, "q", max_length=MAX_QUERY_CHARS)
    order = choice_param(request, "order", ORDERS, "relevance")
    page = int_param(request, "page", 1, maximum=MAX_PAGE)
    result = await search_page(project, query, order=order, page=page, page_size=PER_PAGE)

    def page_url(number: int) -> str:
        return f"{request.url.path}?{urlencode({'q': query, 'order': order, 'page': number})}"

    return render(
        request,
        "search.html",
        {"result": result, "page": page, "has_more": result.has_next, "page_url": page_url, "orders": ORDERS},
    )


routes: list[BaseRoute] = [
    Route("/projects/{project}/search", project_search, methods=["GET"], name="project_search"),
]
