"""Projects pages: the index of projects, and one project with its agents, threads and a search box."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.identity.overview import check_page, project_overview, projects_overview
from mcp_agent_mail.services.mail.browse import project_threads
from mcp_agent_mail.web.pages._query import int_param
from mcp_agent_mail.web.templating import render

PER_PAGE = 50
AGENTS_PER_PAGE = 100


async def projects_index(request: Request) -> Response:
    """Show every project (paged) with its agent and message counts."""
    page = check_page(int_param(request, "page", 1), PER_PAGE)
    data = await projects_overview(page)
    return render(
        request,
        "projects.html",
        {**data, "page_url": lambda n: f"{request.url.path}?page={n}"},
    )


routes: list[BaseRoute] = [Route("/projects", projects_index, methods=["GET"], name="projects")]


async def project_page(request: Request) -> Response:
    """Show one project: its agents (program, model, last active, retired), its threads (paged) and a search box."""
    slug = request.path_params["project"]
    threads_page = check_page(int_param(request, "page", 1), PER_PAGE)
    agents_page = check_page(int_param(request, "agents_page", 1), AGENTS_PER_PAGE)
    overview = await project_overview(slug, agents_page)
    threads = await project_threads(slug, threads_page)
    project = overview["project"]
    base = request.url.path
    return render(
        request,
        "project.html",
        {
            "project": project,
            "agents": overview["agents"],
            "agents_total": overview["total"],
            "agents_page": agents_page.number,
            "agents_more": overview["has_more"],
            "agents_page_url": lambda n: f"{base}?agents_page={n}",
            "threads": threads["threads"],
            "page": threads_page.number,
            "has_more": threads["has_more"],
            "page_url": lambda n: f"{base}?page={n}",
        },
    )


routes.append(Route("/projects/{project}", project_page, methods=["GET"], name="project"))
