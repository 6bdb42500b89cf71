"""Messages: sending new mail and replying in threads."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import ColumnElement, RowMapping, bindparam, exists, or_, select

from mcp_agent_mail import archive
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import (
    AgentMailError,
    ContactRequiredError,
    InvalidArgumentError,
    NotFoundError,
)
from mcp_agent_mail.services.identity.project_agent import project_and_agent
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.services.mail import attachments, client_sends, contacts, policy, reply_rows
from mcp_agent_mail.services.mail import recipients as rcpt
from mcp_agent_mail.services.mail.drafts import (
    BODY_MAX_BYTES,
    Draft,
    check_body,
    check_importance,
    check_subject,
    check_thread_id,
    check_topic,
)
from mcp_agent_mail.services.mail.store import ensure_active, ensure_writable, store_message


def in_thread(thread_id: str) -> ColumnElement[bool]:
    """Return the condition for messages of a thread: its thread_id, or the seed message whose id it is."""
    m = schema.messages
    condition: ColumnElement[bool] = m.c.thread_id == thread_id
    if thread_id.isdigit():
        condition = or_(condition, m.c.id == int(thread_id))
    return condition


_m, _r = schema.messages, schema.message_recipients
_VISIBLE_MESSAGE = select(_m).where(
    _m.c.id == bindparam("message_id"),
    (_m.c.sender_id == bindparam("agent_id"))
    | exists().where(_r.c.message_id == _m.c.id, _r.c.agent_id == bindparam("agent_id")),
)


async def _project_and_sender(
    session: ReadTransaction, project_key: str, sender_name: str, read: tuple[RowMapping, RowMapping] | None = None
) -> tuple[RowMapping, RowMapping]:
    """Resolve the project (writable) and the sender (active) in one statement, with the usual coded errors.

    ``read`` holds the two rows when a statement of the caller already read them: they are only checked.
    """
    if read is not None:
        ensure_writable(read[0])
        ensure_active(read[1])
        return read
    found_project, found_sender = await project_and_agent(
        session,
        project_key,
        sender_name,
        check_project=lambda row: ensure_writable(cast(RowMapping, row)),
        field="sender_name",
    )
    project, sender = cast(RowMapping, found_project), cast(RowMapping, found_sender)
    ensure_writable(project)
    ensure_active(sender)
    return project, sender


def _result(project: RowMapping, payload: dict[str, Any], notices: tuple[str, ...]) -> dict[str, Any]:
    result: dict[str, Any] = {"deliveries": [{"project": project["human_key"], "payload": payload}], "count": 1}
    if payload.get("attachments"):
        result["attachments"] = payload["attachments"]
    if notices:
        result["notices"] = list(notices)
    return result


async def _prepare_attachments(
    project_key: str, sender_name: str, draft: Draft, paths: list[str], convert_images: bool | None
) -> tuple[Draft, dict[str, tuple[str, bytes]]]:
    """Resolve images and files against the project directory (outside the write transaction)."""
    if not paths and not attachments.has_images(draft.body_md):
        return draft, {}

    async def lookup(session: ReadTransaction) -> tuple[RowMapping, RowMapping]:
        project = await resolve_project(session, project_key)
        return project, await get_agent(session, project, sender_name, field="sender_name")

    project, sender = await run_read(lookup)
    prepared = await asyncio.to_thread(
        attachments.prepare,
        draft.body_md,
        paths,
        project_dir=project["human_key"],
        slug=project["slug"],
        attachments_policy=sender["attachments_policy"],
        convert_images=convert_images,
        settings=get_settings(),
    )
    if len(prepared.body_md.encode("utf-8", errors="surrogatepass")) > BODY_MAX_BYTES:
        raise InvalidArgumentError(
            f"With inlined images the body exceeds {BODY_MAX_BYTES} bytes.",
            hint="Attach fewer or smaller images, or set the sender's attachments_policy to file.",
        )
    updated = replace(
        draft,
        body_md=prepared.body_md,
        attachments=tuple(prepared.metas),
        notices=draft.notices + tuple(prepared.notices),
    )
    return updated, prepared.blobs


async def _enforce(
    session: ReadTransaction,
    project: RowMapping,
    sender: RowMapping,
    recipients: rcpt.Recipients,
    thread_id: str | None,
) -> None:
    """Refuse the whole send if any recipient's project, state or contact policy forbids it."""
    await rcpt.check_projects_writable(session, recipients)
    verdict = await policy.evaluate(
        session, sender, recipients.agents.values(), thread_id=thread_id, links=recipients.links
    )

    def project_of(row: RowMapping) -> str | None:
        return None if row["project_id"] == project["id"] else recipients.slugs.get(row["project_id"])

    policy.raise_refusals(verdict, sender, project, recipients.label, project_of)


async def _add_broadcast(
    session: ReadTransaction, project: RowMapping, sender: RowMapping, explicit: rcpt.Recipients, thread_id: str | None
) -> tuple[rcpt.Recipients, list[dict[str, str]]]:
    """Address every active agent of the project the sender may write to; list the ones skipped."""
    a = schema.agents
    rows = (
        (
            await session.execute(
                select(a)
                .where(
                    a.c.project_id == project["id"],
                    a.c.id != sender["id"],
                    a.c.retired_at.is_(None),
                    a.c.contact_policy != "block_all",
                )
                .order_by(a.c.name_key)
            )
        )
        .mappings()
        .all()
    )
    verdict = await policy.evaluate(session, sender, rows, thread_id=thread_id)
    merged = rcpt.Recipients(home_project_id=project["id"])
    for row in verdict.allowed:
        merged.add(row, "to")
    for agent_id, kind in explicit.kinds.items():
        merged.add(explicit.agents[agent_id], kind)
    merged.slugs.update(explicit.slugs)
    skipped = [{"name": row["name"], "reason": "CONTACT_BLOCKED"} for row in verdict.blocked]
    skipped += [{"name": row["name"], "reason": "CONTACT_REQUIRED"} for row in verdict.required]
    return merged, skipped


def _nobody_result(project: RowMapping, notices: tuple[str, ...], skipped: list[dict[str, str]]) -> dict[str, Any]:
    """Explain a broadcast that reached nobody."""
    notice = f"Nobody in project {project['slug']!r} can receive this broadcast, so nothing was sent"
    if skipped:
        notice += f" ({len(skipped)} {'agent needs' if len(skipped) == 1 else 'agents need'} request_contact first)"
    notice += "; other agents are retired, block all mail, or there are none yet."
    result: dict[str, Any] = {"deliveries": [], "count": 0, "notices": [*notices, notice]}
    if skipped:
        result["skipped"] = skipped
    return result


async def _request_contacts(project_key: str, sender_name: str, exc: ContactRequiredError) -> list[str]:
    """Send a contact request to each recipient that needs one; return those that got it."""
    requested: list[str] = []
    for label in exc.data.get("recipients_blocked", []):
        address = rcpt.parse_address(label)
        try:
            await contacts.request_contact(
                project_key,
                sender_name,
                address.name,
                to_project=address.project,
                reason=f"{sender_name} tried to send you a message and asks to be allowed to write to you.",
            )
        except AgentMailError:
            continue
        requested.append(label)
    return requested


async def send_message(
    project_key: str,
    sender_name: str,
    to: list[str] | None,
    subject: str,
    body_md: str,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    importance: str = "normal",
    ack_required: bool = False,
    thread_id: str | None = None,
    topic: str | None = None,
    attachment_paths: list[str] | None = None,
    convert_images: bool | None = None,
    broadcast: bool = False,
    auto_contact_if_blocked: bool | None = None,
    client_msg_id: str | None = None,
) -> dict[str, Any]:
    """Store a new message for the named recipients (or the whole project) and queue it for the archive.

    With a ``client_msg_id``, a retry of the same send returns the first result and stores nothing.
    """
    notices: list[str] = []
    draft = Draft(
        subject=check_subject(subject, notices),
        body_md=check_body(body_md),
        importance=check_importance(importance),
        ack_required=bool(ack_required),
        thread_id=check_thread_id(thread_id),
        topic=check_topic(topic),
        notices=tuple(notices),
    )
    if broadcast:
        if any(isinstance(name, str) and name.strip() for name in to or []):
            raise InvalidArgumentError(
                "broadcast=true and to are mutually exclusive: a broadcast writes to every agent of the project, "
                "so to must be empty.",
                hint="Pass to=[] with broadcast=true, or drop broadcast to address agents by name.",
            )
        lists = rcpt.clean_lists([], cc, bcc, allow_empty=True)
    else:
        lists = rcpt.clean_lists(to, cc, bcc)
    paths = attachments.check_paths(attachment_paths)
    wanted = client_sends.once(
        client_msg_id,
        "send",
        {
            **{kind: client_sends.names(values) for kind, values in lists.items()},
            "subject": draft.subject,
            "body_md": draft.body_md,
            "importance": draft.importance,
            "ack_required": draft.ack_required,
            "thread_id": draft.thread_id,
            "topic": draft.topic,
            "attachment_paths": paths,
            "convert_images": convert_images,
            "broadcast": bool(broadcast),
        },
    )
    if wanted is not None and (earlier := await client_sends.earlier_result(project_key, sender_name, wanted)):
        return earlier
    draft, blobs = await _prepare_attachments(project_key, sender_name, draft, paths, convert_images)

    async def transaction(session: WriteTransaction) -> tuple[dict[str, Any], bool]:
        home = None if broadcast else await rcpt.read_home(session, project_key, sender_name, lists)
        read = None if home is None else (home.project, home.sender)
        project, sender = await _project_and_sender(session, project_key, sender_name, read)
        if wanted is not None and (earlier := await client_sends.find(session, sender["id"], wanted)):
            return earlier, False
        if home is not None:
            recipients = await rcpt.resolve_home(session, home, lists)
        else:
            recipients = await rcpt.resolve(session, project, lists, sender_id=sender["id"])
        await _enforce(session, project, sender, recipients, draft.thread_id)
        skipped: list[dict[str, str]] = []
        if broadcast:
            recipients, skipped = await _add_broadcast(session, project, sender, recipients, draft.thread_id)
            if not recipients.kinds:
                return _nobody_result(project, draft.notices, skipped), False
        payload = await store_message(session, project, sender, draft, recipients, blobs)
        result = _result(project, payload, draft.notices)
        if skipped:
            result["skipped"] = skipped
        if wanted is not None:
            await client_sends.record(session, project["id"], sender["id"], wanted, result)
        return result, True

    try:
        result, stored = await run_write(transaction)
    except ContactRequiredError as exc:
        if not auto_contact_if_blocked:
            raise
        requested = await _request_contacts(project_key, sender_name, exc)
        archive.wake_writer()
        message = exc.message
        if requested:
            message += f" Contact requests were sent to {', '.join(requested)}; send again once they approve."
        raise ContactRequiredError(
            message,
            hint="Wait for each recipient to call respond_contact (list_contacts shows the status), then resend.",
            data={**exc.data, "auto_contact_requested": requested},
        ) from exc
    if stored:
        archive.wake_writer()
    return result


def reply_subject(original: str, prefix: str) -> str:
    """Prefix a subject once (``Re: x`` stays ``Re: x``); an empty prefix keeps it as is."""
    cleaned = (prefix or "").strip()
    if not cleaned or original.lower().startswith(cleaned.lower()):
        return original
    return f"{cleaned} {original}"


async def visible_message(session: ReadTransaction, agent: RowMapping, message_id: int) -> RowMapping:
    """Return a message the agent sent or received (in any project), or raise NOT_FOUND."""
    row = (
        (await session.execute(_VISIBLE_MESSAGE, {"message_id": message_id, "agent_id": agent["id"]}))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"Message {message_id} not found or not visible to {agent['name']}.",
            hint="Reply only to messages you sent or received; fetch_inbox lists yours.",
        )
    return row


_a, _p = schema.agents, schema.projects
_NAME_COLUMNS = select(_a.c.name, _a.c.project_id, _p.c.slug).join(_p, _p.c.id == _a.c.project_id)
_ORIGINAL_SENDER = _NAME_COLUMNS.where(_a.c.id == bindparam("sender_id"))
_ORIGINAL_TO = (
    _NAME_COLUMNS.join(_r, _r.c.agent_id == _a.c.id)
    .where(_r.c.message_id == bindparam("message_id"), _r.c.kind == "to")
    .order_by(_a.c.name)
)


async def _default_to(session: ReadTransaction, original: RowMapping, sender: RowMapping) -> list[str]:
    """Address the original sender (or, replying to yourself, the original to-recipients)."""
    if original["sender_id"] != sender["id"]:
        result = await session.execute(_ORIGINAL_SENDER, {"sender_id": original["sender_id"]})
    else:
        result = await session.execute(_ORIGINAL_TO, {"message_id": original["id"]})
    rows = result.all()
    return [name if project_id == sender["project_id"] else f"{name}@{slug}" for name, project_id, slug in rows]


async def reply_message(
    project_key: str,
    message_id: int,
    sender_name: str,
    body_md: str,
    to: list[str] | None = None,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    subject_prefix: str = "Re:",
    client_msg_id: str | None = None,
) -> dict[str, Any]:
    """Reply in the original's thread, by default to its sender (or to its recipients when it is yours).

    With a ``client_msg_id``, a retry of the same reply returns the first result and stores nothing.
    """
    body = check_body(body_md)
    explicit = rcpt.clean_lists(to, cc, bcc) if to is not None else None  # an explicit [] must not send nothing
    wanted = client_sends.once(
        client_msg_id,
        "reply",
        {
            "message_id": message_id,
            "body_md": body,
            "to": None if explicit is None else client_sends.names(explicit["to"]),
            "cc": client_sends.names([v for v in cc or [] if isinstance(v, str)]),
            "bcc": client_sends.names([v for v in bcc or [] if isinstance(v, str)]),
            "subject_prefix": (subject_prefix or "").strip(),
        },
    )
    if wanted is not None and (earlier := await client_sends.earlier_result(project_key, sender_name, wanted)):
        return earlier
    base = Draft(subject="-", body_md=body, importance="normal", ack_required=False, thread_id=None, topic=None)
    base, blobs = await _prepare_attachments(project_key, sender_name, base, [], None)

    async def transaction(session: WriteTransaction) -> tuple[dict[str, Any], bool]:
        default = to is None and not cc and not bcc
        fast = await reply_rows.read_reply(session, project_key, sender_name, message_id) if default else None
        read = None if fast is None else (fast.project, fast.sender)
        project, sender = await _project_and_sender(session, project_key, sender_name, read)
        if wanted is not None and (earlier := await client_sends.find(session, sender["id"], wanted)):
            return earlier, False
        original = fast.original if fast is not None else await visible_message(session, sender, message_id)
        notices: list[str] = list(base.notices)
        draft = replace(
            base,
            subject=check_subject(reply_subject(original["subject"], subject_prefix), notices),
            importance=original["importance"],
            ack_required=bool(original["ack_required"]),
            thread_id=original["thread_id"] or str(original["id"]),
            topic=original["topic"],
            notices=tuple(notices),
        )
        if fast is not None:
            recipients = fast.recipients()
        else:
            recipients_to = to if to is not None else await _default_to(session, original, sender)
            lists = rcpt.clean_lists(recipients_to, cc, bcc)
            recipients = await rcpt.resolve(session, project, lists, sender_id=sender["id"])
        await _enforce(session, project, sender, recipients, draft.thread_id)
        payload = await store_message(session, project, sender, draft, recipients, blobs)
        result = _result(project, payload, draft.notices)
        result["thread_id"] = draft.thread_id
        result["reply_to"] = original["id"]
        if wanted is not None:
            await client_sends.record(session, project["id"], sender["id"], wanted, result)
        return result, True

    result, stored = await run_write(transaction)
    if stored:
        archive.wake_writer()
    return result
