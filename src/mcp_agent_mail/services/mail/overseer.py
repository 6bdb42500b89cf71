"""The human overseer: mail a person writes in the web UI, sent as the project's ``HumanOverseer``.

Who it comes from: every project gets one reserved agent, ``HumanOverseer`` (program ``web-ui``,
model ``human``, contact policy ``open``), created on first use. Its name is one agents cannot
register, and its registration token is never handed out, so (in strict identity mode) no MCP
client can speak as it. How agents tell: the message's sender is ``HumanOverseer``, its topic is
:data:`HUMAN_TOPIC` and its importance is ``high``; all three are columns, so they show in
``fetch_inbox`` and in the archive's front matter and come back when the database is rebuilt from
the archive.

Contact policies do not apply to the overseer. They let agents keep other agents' mail out; the
overseer is the person who runs these agents and the mailbox, reached only through the web UI's
writer access, and an instruction from them that a ``contacts_only`` or ``block_all`` agent never
saw would defeat the point of overseeing. Everything else is the path ``send_message`` takes:
the same checks, recipient resolution, :func:`~.store.store_message` (rows and archive job in one
transaction) and the archive writer's wake-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, select

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.db.shapes import agent_dict
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.agents import ensure_reserved_agent
from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.services.identity.resolve import resolve_project
from mcp_agent_mail.services.mail import recipients as rcpt
from mcp_agent_mail.services.mail.drafts import (
    BODY_MAX_BYTES,
    SUBJECT_MAX,
    Draft,
    check_body,
    check_importance,
    check_subject,
    check_thread_id,
)
from mcp_agent_mail.services.mail.messages import in_thread, reply_subject
from mcp_agent_mail.services.mail.store import ensure_active, ensure_writable, store_message

OVERSEER_NAME = "HumanOverseer"
OVERSEER_PROGRAM = "web-ui"
OVERSEER_MODEL = "human"
OVERSEER_TASK = "A person overseeing this project's agents through the web UI."
HUMAN_TOPIC = "human-overseer"
IMPORTANCE = "high"
MAX_CHOICES = 500


@dataclass(frozen=True)
class OverseerDraft:
    """What the compose form gathered: recipient names, subject, Markdown body and an optional thread.

    The web UI keeps the overseer's defaults (``high``, no acknowledgement request); the command
    line lets a person choose both.
    """

    to: tuple[str, ...]
    subject: str
    body_md: str
    thread_id: str | None = None
    importance: str = IMPORTANCE
    ack_required: bool = False


def is_overseer(name: str | None) -> bool:
    """Tell whether an agent name is the overseer's reserved identity."""
    return isinstance(name, str) and name_key(name) == name_key(OVERSEER_NAME)


def problems(draft: OverseerDraft) -> list[str]:
    """Return every reason the draft cannot be sent as it is (empty when it can)."""
    found: list[str] = []
    names = [name.strip() for name in draft.to if isinstance(name, str) and name.strip()]
    if not names:
        found.append("Choose at least one recipient.")
    elif len(set(map(name_key, names))) > rcpt.MAX_RECIPIENTS:
        found.append(f"Choose at most {rcpt.MAX_RECIPIENTS} recipients.")
    for name in names:
        if rcpt.parse_address(name).project is not None:
            found.append(f"{name!r} is in another project; the overseer writes to this project's agents only.")
        elif is_overseer(name):
            found.append("The overseer cannot write to itself.")
    subject = (draft.subject or "").strip()
    if not subject:
        found.append("The subject is empty.")
    elif len(subject) > SUBJECT_MAX:
        found.append(f"The subject is {len(subject)} characters long; at most {SUBJECT_MAX} are allowed.")
    found.extend(_body_problems(draft.body_md))
    for check in (lambda: check_thread_id(draft.thread_id), lambda: check_importance(draft.importance)):
        try:
            check()
        except InvalidArgumentError as exc:
            found.append(f"{exc.message} {exc.hint or ''}".strip())
    return found


def _body_problems(body_md: str) -> list[str]:
    if not isinstance(body_md, str) or not body_md.strip():
        return ["The message body is empty."]
    size = len(body_md.encode("utf-8", errors="surrogatepass"))
    if size > BODY_MAX_BYTES:
        return [f"The message body is {size} bytes; at most {BODY_MAX_BYTES} are allowed."]
    return []


def _refuse(found: list[str]) -> None:
    if found:
        raise InvalidArgumentError(" ".join(found), data={"problems": found})


_a = schema.agents


async def recipient_choices(project_key: str) -> dict[str, Any]:
    """Return the project and the active agents the overseer can write to (by name, at most 500)."""

    async def read(session: ReadTransaction) -> dict[str, Any]:
        project = await resolve_project(session, project_key)
        rows = (
            await session.execute(
                select(_a)
                .where(
                    _a.c.project_id == project["id"],
                    _a.c.retired_at.is_(None),
                    _a.c.name_key != name_key(OVERSEER_NAME),
                )
                .order_by(_a.c.name_key)
                .limit(MAX_CHOICES + 1)
            )
        ).mappings()
        agents = [agent_dict(row) for row in rows]
        return {
            "project": {
                "slug": project["slug"],
                "human_key": project["human_key"],
                "archived": bool(project["archived_at"]),
            },
            "agents": agents[:MAX_CHOICES],
            "more": len(agents) > MAX_CHOICES,
        }

    return await run_read(read)


async def _overseer(session: WriteTransaction, project: RowMapping) -> RowMapping:
    overseer = await ensure_reserved_agent(
        session,
        project,
        OVERSEER_NAME,
        program=OVERSEER_PROGRAM,
        model=OVERSEER_MODEL,
        task_description=OVERSEER_TASK,
    )
    ensure_active(overseer)
    return overseer


async def _resolve_local(session: ReadTransaction, project: RowMapping, names: list[str]) -> rcpt.Recipients:
    """Resolve this project's agents by name; an unknown or retired one is a mistake in the form."""
    lists = rcpt.clean_lists(names, [], [])
    try:
        return await rcpt.resolve(session, project, lists)
    except NotFoundError as exc:
        raise InvalidArgumentError(exc.message, hint=exc.hint, data=exc.data) from exc


def _result(project: RowMapping, payload: dict[str, Any], draft: Draft) -> dict[str, Any]:
    return {
        "project": project["slug"],
        "message_id": payload["id"],
        "thread_id": payload.get("thread_id"),
        "subject": payload["subject"],
        "recipients": payload["to"],
        "created_ts": payload["created_ts"],
        "importance": draft.importance,
        "ack_required": draft.ack_required,
    }


async def _send(
    project_key: str, draft: Draft, names: list[str] | None, thread_for_reply: str | None
) -> dict[str, Any]:
    async def transaction(session: WriteTransaction) -> tuple[RowMapping, dict[str, Any]]:
        project = await resolve_project(session, project_key)
        ensure_writable(project)
        overseer = await _overseer(session, project)
        final = draft
        if thread_for_reply is not None:
            final, participants = await _reply_parts(session, project, overseer, draft, thread_for_reply)
            recipients = await _resolve_local(session, project, participants)
        else:
            recipients = await _resolve_local(session, project, list(names or []))
        payload = await store_message(session, project, overseer, final, recipients)
        return project, payload

    project, payload = await run_write(transaction)
    archive.wake_writer()
    return _result(project, payload, draft)


async def send_as_overseer(project_key: str, draft: OverseerDraft) -> dict[str, Any]:
    """Send the human's message to the chosen agents of the project, marked as human (high importance by default)."""
    _refuse(problems(draft))
    stored = Draft(
        subject=check_subject(draft.subject, []),
        body_md=check_body(draft.body_md),
        importance=check_importance(draft.importance),
        ack_required=bool(draft.ack_required),
        thread_id=check_thread_id(draft.thread_id),
        topic=HUMAN_TOPIC,
    )
    return await _send(project_key, stored, [n.strip() for n in draft.to if n.strip()], None)


_m, _r = schema.messages, schema.message_recipients


async def _reply_parts(
    session: ReadTransaction, project: RowMapping, overseer: RowMapping, draft: Draft, thread_id: str
) -> tuple[Draft, list[str]]:
    """Return the reply's subject and thread, and the thread's active participants in this project."""
    first = (
        (
            await session.execute(
                select(_m.c.id, _m.c.subject, _m.c.thread_id)
                .where(_m.c.project_id == project["id"], in_thread(thread_id))
                .order_by(_m.c.created_ts, _m.c.id)
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    if first is None:
        raise NotFoundError(f"Thread {thread_id!r} not found in project {project['slug']!r}.")
    in_this_thread = select(_m.c.id).where(_m.c.project_id == project["id"], in_thread(thread_id))
    people = (
        select(_m.c.sender_id.label("agent_id"))
        .where(_m.c.id.in_(in_this_thread))
        .union(select(_r.c.agent_id).where(_r.c.message_id.in_(in_this_thread)))
    )
    rows = await session.execute(
        select(_a.c.name)
        .where(
            _a.c.id.in_(select(people.subquery().c.agent_id)),
            _a.c.project_id == project["id"],
            _a.c.retired_at.is_(None),
            _a.c.id != overseer["id"],
        )
        .order_by(_a.c.name_key)
        .limit(rcpt.MAX_RECIPIENTS)
    )
    names = list(rows.scalars())
    if not names:
        raise InvalidArgumentError(
            "Nobody in this thread can receive a reply: its agents are retired or in other projects.",
            hint="Compose a new message to the agents you want to reach.",
        )
    notices: list[str] = []
    reply = Draft(
        subject=check_subject(reply_subject(str(first["subject"]), "Re:"), notices),
        body_md=draft.body_md,
        importance=draft.importance,
        ack_required=draft.ack_required,
        thread_id=first["thread_id"] or str(first["id"]),
        topic=HUMAN_TOPIC,
    )
    return reply, names


async def reply_as_overseer(
    project_key: str, thread_id: str, body_md: str, *, importance: str = IMPORTANCE, ack_required: bool = False
) -> dict[str, Any]:
    """Reply in a thread as the overseer, to every active agent of this project who took part in it."""
    _refuse(_body_problems(body_md))
    level = check_importance(importance)
    thread = check_thread_id(thread_id)
    if thread is None:
        raise InvalidArgumentError("The thread id is missing.", hint="Pass the thread id or its first message's id.")
    base = Draft(
        subject="-",
        body_md=check_body(body_md),
        importance=level,
        ack_required=bool(ack_required),
        thread_id=None,
        topic=HUMAN_TOPIC,
    )
    return await _send(project_key, base, None, thread)


def sent_by_human(message: dict[str, Any]) -> bool:
    """Tell whether a message entry (``from`` and ``topic`` keys) came from the overseer."""
    sender = message.get("from") or message.get("sender_name")
    return is_overseer(sender if isinstance(sender, str) else None) and message.get("topic") == HUMAN_TOPIC


__all__ = [
    "HUMAN_TOPIC",
    "OVERSEER_MODEL",
    "OVERSEER_NAME",
    "OVERSEER_PROGRAM",
    "OverseerDraft",
    "is_overseer",
    "problems",
    "recipient_choices",
    "reply_as_overseer",
    "send_as_overseer",
    "sent_by_human",
]
