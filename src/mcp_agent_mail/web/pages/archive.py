"""The archive browser: recent commits, one commit's diff, the tree at HEAD, and an agent's inbox in the past."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.services.archive_browse import commits, time_travel, tree
from mcp_agent_mail.web.pages._query import int_param, text_param
from mcp_agent_mail.web.templating import render

COMMITS_PER_PAGE = 25
ENTRIES_PER_PAGE = 200
MESSAGES_PER_PAGE = 50


async def archive_index(request: Request) -> Response:
    """List the archive's commits, newest first, paged."""
    page = int_param(request, "page", 1, maximum=commits.MAX_PAGE)
    log = await commits.recent_commits(get_settings(), page=page, page_size=COMMITS_PER_PAGE)
    return render(
        request,
        "archive.html",
        {"log": log, "page": page, "has_more": log.has_next, "page_url": lambda n: f"{request.url.path}?page={n}"},
    )


async def archive_commit(request: Request) -> Response:
    """Show one commit: who, when, what changed, and its diff (cut at a size cap, with a note)."""
    detail = await commits.commit_detail(get_settings(), str(request.path_params["sha"]))
    return render(request, "archive_commit.html", {"detail": detail})


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = path.split("/") if path else []
    return [(name, "/".join(parts[: index + 1])) for index, name in enumerate(parts)]


async def archive_tree(request: Request) -> Response:
    """Show a folder of the archive at HEAD, or one file (capped; binary files are not shown inline)."""
    path = text_param(request, "path", max_length=tree.MAX_PATH_CHARS)
    page = int_param(request, "page", 1, maximum=tree.MAX_PAGE)
    view = await tree.browse(get_settings(), path, page=page, page_size=ENTRIES_PER_PAGE)

    def page_url(number: int) -> str:
        return f"{request.url.path}?{urlencode({'path': view.path, 'page': number})}"

    parent = view.path.rpartition("/")[0] if view.path else None
    return render(
        request,
        "archive_tree.html",
        {
            "view": view,
            "crumbs": _crumbs(view.path),
            "parent": parent,
            "page": page,
            "has_more": view.has_next,
            "page_url": page_url,
        },
    )


async def agent_inbox_at(request: Request) -> Response:
    """Show an agent's inbox as the archive held it at the chosen time (the newest commit at or before it)."""
    project = request.path_params["project"]
    agent = request.path_params["agent"]
    at = text_param(request, "at", max_length=64)
    page = int_param(request, "page", 1, maximum=time_travel.MAX_PAGE)
    owner, name = await time_travel.inbox_owner(project, agent)
    snapshot = None
    if at:
        snapshot = await time_travel.inbox_at(
            get_settings(), project, agent, at, page=page, page_size=MESSAGES_PER_PAGE
        )

    def page_url(number: int) -> str:
        return f"{request.url.path}?{urlencode({'at': at, 'page': number})}"

    return render(
        request,
        "inbox_at.html",
        {
            "project": owner,
            "agent": name,
            "at": at,
            "snapshot": snapshot,
            "page": page,
            "has_more": bool(snapshot and snapshot.has_next),
            "page_url": page_url,
        },
    )


routes: list[BaseRoute] = [
    Route("/archive", archive_index, methods=["GET"], name="archive"),
    Route("/archive/commits/{sha}", archive_commit, methods=["GET"], name="archive_commit"),
    Route("/archive/tree", archive_tree, methods=["GET"], name="archive_tree"),
    Route("/projects/{project}/agents/{agent}/inbox-at", agent_inbox_at, methods=["GET"], name="agent_inbox_at"),
]
