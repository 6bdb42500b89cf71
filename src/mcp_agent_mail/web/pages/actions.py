"""Operator actions: retire or unretire an agent, archive or unarchive a project, release a stale lease, delete mail.

Each action has a confirmation page (GET ``…/confirm``) that says exactly what will happen and
posts a form with the CSRF token; the POST needs the writer role, does it through the same
service as the MCP tools, and answers with a page reporting what changed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.services.identity.lifecycle import archive_project, retire_agent, unarchive_project, unretire_agent
from mcp_agent_mail.services.identity.lifecycle_facts import agent_lifecycle_facts, project_lifecycle_facts
from mcp_agent_mail.services.mail.deletion import delete_messages, preview_deletion
from mcp_agent_mail.services.operator_release import OPERATOR_NAME, release_for_operator
from mcp_agent_mail.services.reservations.assessment import assess_reservation
from mcp_agent_mail.timeutil import parse_timestamp
from mcp_agent_mail.web.errors import WebError
from mcp_agent_mail.web.pages._action_text import describe_reason, parse_message_ids
from mcp_agent_mail.web.pages._query import path_int
from mcp_agent_mail.web.security import require_csrf, require_writer, safe_next
from mcp_agent_mail.web.templating import exact_time, relative_words, render

MAX_NOTE = 2000


def _home(slug: str) -> str:
    return f"/mail/projects/{slug}"


def _back(request: Request, values: Any, slug: str) -> str:
    """Return where Cancel and Back lead: the page the action came from (``next``), else the project page."""
    raw = values.get("next")
    return safe_next(raw if isinstance(raw, str) else None, _home(slug))


def _confirm(request: Request, **context: Any) -> Response:
    """Render the confirmation page; ``action`` None means there is nothing to confirm (no form)."""
    page: dict[str, Any] = {
        "lead": [],
        "details": [],
        "notice": "",
        "action": None,
        "hidden": [],
        "note_field": False,
        "button": "Confirm",
        "danger": False,
        "messages": [],
    }
    page.update(context)
    return render(request, "confirm.html", page)


def _done(request: Request, *, title: str, changes: list[str], back: str, **context: Any) -> Response:
    """Render the page reporting what an action changed."""
    page: dict[str, Any] = {"title": title, "changes": changes, "details": [], "notes": [], "back": back}
    page.update(context)
    return render(request, "action_done.html", page)


def _ago(value: str | None) -> str:
    return relative_words(parse_timestamp(value, field="timestamp")) if value else ""


def _plural(count: int, word: str, many: str = "") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


async def _post_form(request: Request) -> Any:
    """Check CSRF and the writer role for a POST, and return its form."""
    await require_csrf(request)
    require_writer(request)
    return await request.form()


# ---------------------------------------------------------------------------
# Retire and unretire an agent


async def retire_confirm(request: Request) -> Response:
    """Say what retiring the agent will do, with the form that does it."""
    require_writer(request)
    facts = await agent_lifecycle_facts(request.path_params["project"], request.path_params["agent"])
    back = _back(request, request.query_params, facts["slug"])
    name, key = facts["agent_name"], facts["project_key"]
    if facts["retired_at"] is not None:
        return _confirm(
            request,
            title=f"Retire {name}",
            notice=f"{name} in {key} has been retired since {exact_time(facts['retired_at'])}; nothing to do.",
            cancel=back,
        )
    lead = [f"Retire {name} in {key}: it keeps its mail but can no longer send or receive mail or reserve files."]
    count = facts["active_reservations"]
    lead.append(
        f"Its {_plural(count, 'active reservation')} will be released." if count else "It holds no active reservation."
    )
    details = [f"#{r['id']} {r['path_pattern']}" for r in facts["reservations_shown"]]
    if count > len(details):
        details.append(f"… and {count - len(details)} more")
    return _confirm(
        request,
        title=f"Retire {name}",
        lead=lead,
        details=details,
        action=request.url_for("agent_retire", project=facts["slug"], agent=name).path,
        hidden=[("next", back)],
        button=f"Retire {name}",
        danger=True,
        cancel=back,
    )


async def retire(request: Request) -> Response:
    """Retire the agent and report what changed."""
    form = await _post_form(request)
    facts = await agent_lifecycle_facts(request.path_params["project"], request.path_params["agent"])
    result = await retire_agent(facts["project_key"], facts["agent_name"])
    name, key = result["agent_name"], result["project_key"]
    if facts["retired_at"] is None:
        changes = [
            f"Retired {name} in {key}: it keeps its mail but can no longer send or receive mail or reserve files."
        ]
    else:
        changes = [f"{name} was already retired (since {exact_time(facts['retired_at'])}); nothing changed."]
    released = int(result.get("released_reservations", 0))
    if released:
        changes.append(f"Released its {_plural(released, 'active reservation')}.")
    return _done(request, title=f"{name} retired", changes=changes, back=_back(request, form, facts["slug"]))


async def unretire_confirm(request: Request) -> Response:
    """Say what bringing the agent back will do, with the form that does it."""
    require_writer(request)
    facts = await agent_lifecycle_facts(request.path_params["project"], request.path_params["agent"])
    back = _back(request, request.query_params, facts["slug"])
    name, key = facts["agent_name"], facts["project_key"]
    if facts["retired_at"] is None:
        return _confirm(
            request, title=f"Unretire {name}", notice=f"{name} in {key} is not retired; nothing to do.", cancel=back
        )
    lead = [f"Bring {name} in {key} back into service: it can send and receive mail and reserve files again."]
    if facts["contact_policy"] == "block_all":
        lead.append(f"{name} still blocks all incoming mail (contact policy block_all); that stays as it is.")
    return _confirm(
        request,
        title=f"Unretire {name}",
        lead=lead,
        action=request.url_for("agent_unretire", project=facts["slug"], agent=name).path,
        hidden=[("next", back)],
        button=f"Unretire {name}",
        cancel=back,
    )


async def unretire(request: Request) -> Response:
    """Bring the agent back into service and report what changed."""
    form = await _post_form(request)
    facts = await agent_lifecycle_facts(request.path_params["project"], request.path_params["agent"])
    result = await unretire_agent(facts["project_key"], facts["agent_name"])
    name, key = result["agent_name"], result["project_key"]
    if facts["retired_at"] is not None:
        changes = [f"{name} in {key} is back in service: it can send and receive mail and reserve files again."]
    else:
        changes = [f"{name} in {key} was not retired; nothing changed."]
    notes = []
    if result.get("contact_policy") == "block_all":
        notes.append(f"{name} still blocks all incoming mail; it can change that with set_contact_policy.")
    return _done(
        request, title=f"{name} active", changes=changes, notes=notes, back=_back(request, form, facts["slug"])
    )


# ---------------------------------------------------------------------------
# Archive and unarchive a project


async def archive_confirm(request: Request) -> Response:
    """Say what archiving the project will do, with the form that does it."""
    require_writer(request)
    facts = await project_lifecycle_facts(request.path_params["project"])
    back = _back(request, request.query_params, facts["slug"])
    key = facts["project_key"]
    if facts["archived_at"] is not None:
        notice = f"{key} has been archived since {exact_time(facts['archived_at'])}; nothing to do."
        return _confirm(request, title=f"Archive {facts['slug']}", notice=notice, cancel=back)
    agents = facts["agents"] - facts["retired_agents"]
    lead = [
        f"Archive {key}: it keeps its agents, mail and history, but accepts no new mail, reservations or agents.",
        f"{_plural(agents, 'active agent')} will only be able to read; "
        f"{_plural(facts['active_reservations'], 'active reservation')} stay until they expire.",
        "You can unarchive it later.",
    ]
    return _confirm(
        request,
        title=f"Archive {facts['slug']}",
        lead=lead,
        action=request.url_for("project_archive", project=facts["slug"]).path,
        hidden=[("next", back)],
        button="Archive the project",
        danger=True,
        cancel=back,
    )


async def archive(request: Request) -> Response:
    """Archive the project and report what changed."""
    form = await _post_form(request)
    facts = await project_lifecycle_facts(request.path_params["project"])
    result = await archive_project(facts["project_key"])
    key = result["project_key"]
    if facts["archived_at"] is None:
        changes = [f"Archived {key} at {exact_time(result['archived_at'])}: it now accepts no new mail or leases."]
    else:
        changes = [f"{key} was already archived (since {exact_time(facts['archived_at'])}); nothing changed."]
    return _done(request, title="Project archived", changes=changes, back=_back(request, form, facts["slug"]))


async def unarchive_confirm(request: Request) -> Response:
    """Say what unarchiving the project will do, with the form that does it."""
    require_writer(request)
    facts = await project_lifecycle_facts(request.path_params["project"])
    back = _back(request, request.query_params, facts["slug"])
    key = facts["project_key"]
    if facts["archived_at"] is None:
        return _confirm(
            request, title=f"Unarchive {facts['slug']}", notice=f"{key} is not archived; nothing to do.", cancel=back
        )
    return _confirm(
        request,
        title=f"Unarchive {facts['slug']}",
        lead=[f"Make {key} writable again: its agents can send mail, reserve files and new agents can register."],
        action=request.url_for("project_unarchive", project=facts["slug"]).path,
        hidden=[("next", back)],
        button="Unarchive the project",
        cancel=back,
    )


async def unarchive(request: Request) -> Response:
    """Make the project writable again and report what changed."""
    form = await _post_form(request)
    facts = await project_lifecycle_facts(request.path_params["project"])
    result = await unarchive_project(facts["project_key"])
    key = result["project_key"]
    if facts["archived_at"] is not None:
        changes = [f"{key} is writable again."]
    else:
        changes = [f"{key} was not archived; nothing changed."]
    return _done(request, title="Project unarchived", changes=changes, back=_back(request, form, facts["slug"]))


# ---------------------------------------------------------------------------
# Release a stale reservation


def _holder_summary(view: dict[str, Any]) -> str:
    active = _ago(view.get("last_agent_activity_ts"))
    mail = _ago(view.get("last_mail_activity_ts"))
    return f"last active {active or 'never'}, " + (f"last mail {mail}" if mail else "no mail found")


async def release_confirm(request: Request) -> Response:
    """Show the reservation, its holder and the staleness verdict, with the release form when it is stale."""
    require_writer(request)
    rid = path_int(request, "reservation_id")
    found = await assess_reservation(request.path_params["project"], rid)
    back = _back(request, request.query_params, found["slug"])
    what = f"reservation #{rid} on {found['path_pattern']} held by {found['agent']} in {found['project_key']}"
    title = f"Release reservation #{rid}"
    if found["status"] == "released":
        notice = f"The {what} was released at {exact_time(found['released_ts'])}; nothing to do."
        return _confirm(request, title=title, notice=notice, cancel=back)
    if found["project_archived"]:
        notice = f"The project is archived, so the {what} is kept as it is; unarchive the project first."
        return _confirm(request, title=title, notice=notice, cancel=back)
    action = request.url_for("reservation_release", project=found["slug"], reservation_id=rid).path
    common: dict[str, Any] = {"title": title, "cancel": back, "hidden": [("next", back)]}
    if found["status"] == "expired":
        lead = [f"The {what} expired at {exact_time(found['expires_ts'])}; releasing it only records that."]
        return _confirm(request, lead=lead, action=action, button="Record as released", **common)
    reasons = [describe_reason(token) for token in found["stale_reasons"]]
    if not found["stale"]:
        notice = f"{found['agent']} may still be working on it, so a release would be refused and nothing would change."
        return _confirm(request, lead=[f"The {what} is active."], details=reasons, notice=notice, **common)
    lead = [
        f"Release the {what} now ({_holder_summary(found)}).",
        f"{found['agent']} is told by mail from {OPERATOR_NAME}, with the reasons below and your note, and can "
        "reserve the files again later. The holder is judged again when you confirm; if it has become active, "
        "nothing is released.",
    ]
    return _confirm(
        request, lead=lead, details=reasons, action=action, note_field=True, button="Release", danger=True, **common
    )


async def release(request: Request) -> Response:
    """Release the reservation when its holder is stale, notify the holder, and report what changed."""
    form = await _post_form(request)
    rid = path_int(request, "reservation_id")
    note = form.get("note", "")
    if not isinstance(note, str) or len(note.strip()) > MAX_NOTE:
        raise WebError(400, f"The note must be text of at most {MAX_NOTE} characters; nothing was released.")
    result = await release_for_operator(request.path_params["project"], rid, note.strip())
    found = result["assessment"]
    back = _back(request, form, found["slug"])
    what = f"reservation #{rid} on {found['path_pattern']} held by {found['agent']}"
    title = f"Reservation #{rid}"
    if result.get("expired"):
        changes = [f"The {what} had expired; it is now recorded as released. Nobody was mailed."]
        return _done(request, title=title, changes=changes, back=back)
    if "reservation" not in result:
        changes = [f"The {what} was already released; nothing changed."]
        return _done(request, title=title, changes=changes, back=back)
    view = result["reservation"]
    changes = [f"Released {what} ({_holder_summary(view)})."]
    notes = []
    if view.get("notified"):
        changes.append(f"{found['agent']} was told by mail from {OPERATOR_NAME} (thread file-reservation-{rid}).")
    else:
        error = view.get("notification_error", {}).get("message", "no notice was sent")
        notes.append(f"{found['agent']} could not be told by mail: {error}")
    details = [describe_reason(token) for token in view.get("stale_reasons", [])]
    return _done(request, title=title, changes=changes, details=details, notes=notes, back=back)


# ---------------------------------------------------------------------------
# Delete messages


def _deletion_lines(found: list[dict[str, Any]]) -> list[str]:
    return [f"#{m['id']} “{m['subject']}” from {m['sender']}, {exact_time(m['created_ts'])}" for m in found]


async def delete_confirm(request: Request) -> Response:
    """List the messages that would be deleted and the ids that are not in the project, with the form."""
    require_writer(request)
    ids = parse_message_ids(request.query_params.getlist("message_ids"))
    preview = await preview_deletion(request.path_params["project"], ids)
    found, missing = preview["messages"], preview["not_found"]
    if not found:
        raise WebError(404, f"No message of project {preview['slug']!r} has the id {', '.join(map(str, missing))}.")
    back = _back(request, request.query_params, preview["slug"])
    copies = sum(m["recipients"] for m in found)
    lead = [
        f"Delete {_plural(len(found), 'message')} from {preview['project_key']}: from the database (with "
        f"{_plural(copies, 'recipient copy', 'recipient copies')} and the search index) and from the Git "
        "archive (message files, inbox and outbox copies). This cannot be undone.",
    ]
    if missing:
        lead.append(
            f"{_plural(len(missing), 'id')} not in this project will be left alone: {', '.join(map(str, missing))}."
        )
    hidden = [("message_ids", str(m["id"])) for m in found] + [("next", back)]
    return _confirm(
        request,
        title="Delete messages",
        lead=lead,
        details=_deletion_lines(found),
        action=request.url_for("messages_delete", project=preview["slug"]).path,
        hidden=hidden,
        button=f"Delete {_plural(len(found), 'message')}",
        danger=True,
        cancel=back,
    )


async def delete(request: Request) -> Response:
    """Delete the chosen messages of the project and report how many went and which ids were not there."""
    form = await _post_form(request)
    ids = parse_message_ids([value for value in form.getlist("message_ids") if isinstance(value, str)])
    result = await delete_messages(request.path_params["project"], ids)
    deleted, missing = result["messages"], result["not_found"]
    if not deleted:
        raise WebError(404, f"No message of project {result['slug']!r} has the id {', '.join(map(str, missing))}.")
    summary = f"Deleted {_plural(len(deleted), 'message')} (database and archive)"
    if missing:
        summary += f"; {_plural(len(missing), 'id')} {'was' if len(missing) == 1 else 'were'} not in this project"
    changes = [summary + "."]
    notes = [f"Not in this project, left alone: {', '.join(map(str, missing))}."] if missing else []
    return _done(
        request,
        title="Messages deleted",
        changes=changes,
        details=_deletion_lines(deleted),
        notes=notes,
        back=_back(request, form, result["slug"]),
    )


_AGENT = "/projects/{project}/agents/{agent}"
_RESERVATION = "/projects/{project}/reservations/{reservation_id}/release"

routes: list[BaseRoute] = [
    Route(f"{_AGENT}/retire/confirm", retire_confirm, methods=["GET"], name="agent_retire_confirm"),
    Route(f"{_AGENT}/retire", retire, methods=["POST"], name="agent_retire"),
    Route(f"{_AGENT}/unretire/confirm", unretire_confirm, methods=["GET"], name="agent_unretire_confirm"),
    Route(f"{_AGENT}/unretire", unretire, methods=["POST"], name="agent_unretire"),
    Route("/projects/{project}/archive/confirm", archive_confirm, methods=["GET"], name="project_archive_confirm"),
    Route("/projects/{project}/archive", archive, methods=["POST"], name="project_archive"),
    Route(
        "/projects/{project}/unarchive/confirm", unarchive_confirm, methods=["GET"], name="project_unarchive_confirm"
    ),
    Route("/projects/{project}/unarchive", unarchive, methods=["POST"], name="project_unarchive"),
    Route(f"{_RESERVATION}/confirm", release_confirm, methods=["GET"], name="reservation_release_confirm"),
    Route(_RESERVATION, release, methods=["POST"], name="reservation_release"),
    Route(
        "/projects/{project}/messages/delete/confirm", delete_confirm, methods=["GET"], name="messages_delete_confirm"
    ),
    Route("/projects/{project}/messages/delete", delete, methods=["POST"], name="messages_delete"),
]
