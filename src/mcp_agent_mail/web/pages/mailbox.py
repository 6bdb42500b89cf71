"""An agent's mailbox: its inbox (with read and acknowledgement state) and outbox, and marking mail read."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.identity.overview import check_page
from mcp_agent_mail.services.mail.browse import agent_box
from mcp_agent_mail.services.mail.bulk_read import MAX_IDS, mark_all_read, mark_read
from mcp_agent_mail.web.errors import WebError
from mcp_agent_mail.web.pages._query import int_param
from mcp_agent_mail.web.security import require_csrf, require_writer
from mcp_agent_mail.web.templating import render

PER_PAGE = 50
_AGENT = "/projects/{project}/agents/{agent}"


async def _box(request: Request, box: str) -> Response:
    page = check_page(int_param(request, "page", 1), PER_PAGE)
    data = await agent_box(request.path_params["project"], request.path_params["agent"], box, page)
    marked = request.query_params.get("marked", "")
    return render(
        request,
        "mailbox.html",
        {
            **data,
            "marked": int(marked) if marked.isdigit() else None,
            "page_url": lambda n: f"{request.url.path}?page={n}",
        },
    )


async def agent_inbox(request: Request) -> Response:
    """Show an agent's received mail, newest first, with who read and acknowledged what."""
    return await _box(request, "inbox")


async def agent_outbox(request: Request) -> Response:
    """Show the mail an agent sent, newest first, with its recipients' state."""
    return await _box(request, "outbox")


def _ids(values: list[str]) -> list[int]:
    ids: list[int] = []
    for value in values:
        if not value.isdigit() or len(value) > 18:
            raise WebError(400, f"message_ids must be message numbers, not {value[:40]!r}.")
        ids.append(int(value))
    if not ids:
        raise WebError(400, "No messages were selected, so nothing was marked.", "Tick at least one message.")
    if len(ids) > MAX_IDS:
        raise WebError(400, f"At most {MAX_IDS} messages can be marked at once.")
    return ids


def _back(request: Request, result: dict[str, object]) -> Response:
    target = request.url_for("agent_inbox", project=str(result["project"]), agent=str(result["agent"])).path
    return RedirectResponse(f"{target}?marked={quote(str(result['marked']))}", status_code=303)


async def agent_mark_read(request: Request) -> Response:
    """Mark the ticked messages read for this agent, then show the inbox saying how many changed."""
    await require_csrf(request)
    require_writer(request)
    form = await request.form()
    ids = _ids([str(value) for value in form.getlist("message_ids")])
    result = await mark_read(request.path_params["project"], request.path_params["agent"], ids)
    return _back(request, result)


async def agent_mark_all_read(request: Request) -> Response:
    """Mark every unread message of this agent read, then show the inbox saying how many changed."""
    await require_csrf(request)
    require_writer(request)
    result = await mark_all_read(request.path_params["project"], request.path_params["agent"])
    return _back(request, result)


routes: list[BaseRoute] = [
    Route(f"{_AGENT}/inbox", agent_inbox, methods=["GET"], name="agent_inbox"),
    Route(f"{_AGENT}/outbox", agent_outbox, methods=["GET"], name="agent_outbox"),
    Route(f"{_AGENT}/mark-read", agent_mark_read, methods=["POST"], name="agent_mark_read"),
    Route(f"{_AGENT}/mark-all-read", agent_mark_all_read, methods=["POST"], name="agent_mark_all_read"),
]
