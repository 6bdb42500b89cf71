"""The overseer's pages: compose a message to a project's agents (with a preview) and reply in a thread."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.errors import AgentMailError, NotFoundError
from mcp_agent_mail.services.mail.drafts import SUBJECT_MAX
from mcp_agent_mail.services.mail.overseer import (
    OVERSEER_NAME,
    OverseerDraft,
    problems,
    recipient_choices,
    reply_as_overseer,
    send_as_overseer,
)
from mcp_agent_mail.web.markdown import render_markdown
from mcp_agent_mail.web.security import require_csrf, require_writer
from mcp_agent_mail.web.templating import render

MAX_FORM_RECIPIENTS = 600


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _draft(form: FormData) -> OverseerDraft:
    names = [value for value in form.getlist("to")[:MAX_FORM_RECIPIENTS] if isinstance(value, str)]
    return OverseerDraft(
        to=tuple(names),
        subject=_text(form, "subject"),
        body_md=_text(form, "body_md"),
        thread_id=_text(form, "thread_id").strip() or None,
    )


def message_path(request: Request, project: str, message_id: int) -> str:
    """Return the path of a message's page (under wherever the UI is mounted)."""
    return f"{request.scope.get('root_path', '')}/projects/{project}/messages/{message_id}"


async def _compose_page(
    request: Request,
    project: str,
    draft: OverseerDraft,
    *,
    errors: list[str] | None = None,
    preview: bool = False,
    status: int = 200,
) -> Response:
    choices = await recipient_choices(project)
    context: dict[str, Any] = {
        **choices,
        "draft": draft,
        "chosen": {name.strip().lower() for name in draft.to},
        "errors": errors or [],
        "preview": render_markdown(draft.body_md) if preview and draft.body_md.strip() else None,
        "subject_max": SUBJECT_MAX,
        "overseer_name": OVERSEER_NAME,
        "slug": choices["project"]["slug"],
    }
    return render(request, "compose.html", context, status=status)


async def compose_form(request: Request) -> Response:
    """Show the compose form: recipients from the project's active agents, subject, Markdown body, thread."""
    require_writer(request)
    project = request.path_params["project"]
    thread = request.query_params.get("thread_id", "")
    return await _compose_page(request, project, OverseerDraft(to=(), subject="", body_md="", thread_id=thread or None))


async def compose_submit(request: Request) -> Response:
    """Preview the draft, or send it as the overseer and go to the sent message; a bad draft is shown again (400)."""
    await require_csrf(request)
    require_writer(request)
    project = request.path_params["project"]
    form = await request.form()
    draft = _draft(form)
    if _text(form, "action") == "preview":
        return await _compose_page(request, project, draft, preview=True)
    found = problems(draft)
    if found:
        return await _compose_page(request, project, draft, errors=found, preview=True, status=400)
    try:
        sent = await send_as_overseer(project, draft)
    except NotFoundError:
        raise
    except AgentMailError as exc:
        reasons = [exc.message, *([exc.hint] if exc.hint else [])]
        return await _compose_page(request, project, draft, errors=reasons, preview=True, status=400)
    return RedirectResponse(message_path(request, sent["project"], sent["message_id"]), status_code=303)


async def thread_reply(request: Request) -> Response:
    """Reply in a thread as the overseer, to the thread's active agents; a bad reply is shown again (400)."""
    await require_csrf(request)
    require_writer(request)
    project, thread = request.path_params["project"], request.path_params["thread_id"]
    form = await request.form()
    body = _text(form, "body_md")
    try:
        sent = await reply_as_overseer(project, thread, body)
    except NotFoundError:
        raise
    except AgentMailError as exc:
        context = {
            "errors": [exc.message, *([exc.hint] if exc.hint else [])],
            "reply_project_slug": project,
            "reply_thread_id": thread,
            "reply_body": body,
        }
        return render(request, "reply.html", context, status=400)
    return RedirectResponse(message_path(request, sent["project"], sent["message_id"]), status_code=303)


routes: list[BaseRoute] = [
    Route("/projects/{project}/compose", compose_form, methods=["GET"], name="compose"),
    Route("/projects/{project}/compose", compose_submit, methods=["POST"], name="compose_submit"),
    Route("/projects/{project}/threads/{thread_id}/reply", thread_reply, methods=["POST"], name="thread_reply"),
]

__all__ = ["compose_form", "compose_submit", "message_path", "routes", "thread_reply"]
