"""Contact policies: who may write to whom, decided once per resolved recipient agent.

Order for each recipient: retired -> AGENT_RETIRED; ``block_all`` -> CONTACT_BLOCKED (nothing
overrides it); the sender itself -> allowed; a link the recipient denied -> CONTACT_BLOCKED;
an approved unexpired link sender->recipient -> allowed; ``open`` -> allowed; ``contacts_only``
-> CONTACT_REQUIRED; ``auto`` -> allowed for agents of the same project (when
CONTACT_AUTO_ALLOW_SAME_PROJECT, the default), or when the pair exchanged mail in this
thread, holds overlapping active file reservations, or exchanged mail within
CONTACT_AUTO_TTL_SECONDS; otherwise CONTACT_REQUIRED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import RowMapping, and_, bindparam, or_, select

from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.db import ReadTransaction, schema
from mcp_agent_mail.errors import (
    AgentRetiredError,
    ContactBlockedError,
    ContactRequiredError,
    InvalidArgumentError,
)
from mcp_agent_mail.services.reservations.patterns import patterns_overlap
from mcp_agent_mail.timeutil import ensure_utc, utcnow

POLICIES = ("open", "auto", "contacts_only", "block_all")


@dataclass
class Verdict:
    """The outcome for a set of recipients: who is allowed and who is refused, and why."""

    allowed: list[RowMapping] = field(default_factory=list)
    retired: list[RowMapping] = field(default_factory=list)
    blocked: list[RowMapping] = field(default_factory=list)
    required: list[RowMapping] = field(default_factory=list)

    @property
    def refused(self) -> list[RowMapping]:
        """Return every recipient the send may not reach."""
        return self.retired + self.blocked + self.required


def link_active(link: RowMapping, now: datetime) -> bool:
    """Tell whether a link has not expired (a link without expiry never does)."""
    return link["expires_ts"] is None or ensure_utc(link["expires_ts"]) > now


_LINKS_FROM = select(schema.agent_links).where(
    schema.agent_links.c.a_agent_id == bindparam("sender_id"),
    schema.agent_links.c.b_agent_id.in_(bindparam("target_ids", expanding=True)),
)


async def outgoing_links(session: ReadTransaction, sender_id: int, target_ids: Iterable[int]) -> dict[int, RowMapping]:
    """Return the sender's links to the given agents, keyed by target agent id."""
    ids = list(set(target_ids))
    if not ids:
        return {}
    rows = await session.execute(_LINKS_FROM, {"sender_id": sender_id, "target_ids": ids})
    return {row["b_agent_id"]: row for row in rows.mappings()}


def _thread_condition(thread_id: str) -> object:
    m = schema.messages
    condition = m.c.thread_id == thread_id
    if thread_id.isdigit() and len(thread_id) < 19:
        condition = or_(condition, m.c.id == int(thread_id))
    return condition


async def _exchanged(
    session: ReadTransaction,
    sender_id: int,
    ids: list[int],
    *,
    thread_id: str | None = None,
    since: datetime | None = None,
) -> set[int]:
    """Return the agents among ``ids`` that sent mail to the sender or received mail from it."""
    m, r = schema.messages, schema.message_recipients
    pair = or_(
        and_(m.c.sender_id == sender_id, r.c.agent_id.in_(ids)),
        and_(m.c.sender_id.in_(ids), r.c.agent_id == sender_id),
    )
    query = select(m.c.sender_id, r.c.agent_id).join(r, r.c.message_id == m.c.id).where(pair)
    if thread_id is not None:
        query = query.where(_thread_condition(thread_id))  # type: ignore[arg-type]
    if since is not None:
        query = query.where(m.c.created_ts >= since)
    found: set[int] = set()
    for sender, recipient in (await session.execute(query.distinct())).all():
        found.add(recipient if sender == sender_id else sender)
    return found & set(ids)


def _overlap(a: str, b: str) -> bool:
    try:
        return patterns_overlap(a, b)
    except InvalidArgumentError:
        return a.strip() == b.strip()


async def _reservation_overlap(
    session: ReadTransaction, project_id: int, sender_id: int, ids: list[int], now: datetime
) -> set[int]:
    """Return the agents among ``ids`` holding an active reservation that overlaps one of the sender's."""
    fr = schema.file_reservations
    rows = (
        await session.execute(
            select(fr.c.agent_id, fr.c.path_pattern).where(
                fr.c.project_id == project_id,
                fr.c.agent_id.in_([sender_id, *ids]),
                fr.c.released_ts.is_(None),
                fr.c.expires_ts > now,
            )
        )
    ).all()
    mine = [pattern for agent, pattern in rows if agent == sender_id]
    if not mine:
        return set()
    return {agent for agent, pattern in rows if agent != sender_id and any(_overlap(pattern, p) for p in mine)}


async def _auto_allowed(
    session: ReadTransaction,
    sender: RowMapping,
    candidates: list[RowMapping],
    thread_id: str | None,
    settings: Settings,
    now: datetime,
) -> set[int]:
    """Return the ``auto`` candidates that the thread, reservation or recent-mail rules let through."""
    ids = [row["id"] for row in candidates]
    if not ids:
        return set()
    allowed: set[int] = set()
    if thread_id:
        allowed |= await _exchanged(session, sender["id"], ids, thread_id=thread_id)
    rest = [i for i in ids if i not in allowed]
    local = [row["id"] for row in candidates if row["project_id"] == sender["project_id"] and row["id"] in rest]
    if local:
        allowed |= await _reservation_overlap(session, sender["project_id"], sender["id"], local, now)
    rest = [i for i in ids if i not in allowed]
    if rest and settings.contact_auto_ttl_seconds > 0:
        since = now - timedelta(seconds=settings.contact_auto_ttl_seconds)
        allowed |= await _exchanged(session, sender["id"], rest, since=since)
    return allowed


async def evaluate(
    session: ReadTransaction,
    sender: RowMapping,
    recipients: Iterable[RowMapping],
    *,
    thread_id: str | None = None,
    settings: Settings | None = None,
    links: Mapping[int, RowMapping] | None = None,
) -> Verdict:
    """Decide, for each resolved recipient agent, whether ``sender`` may write to it.

    ``links`` are the sender's links to these recipients when the caller already read them
    (see ``recipients.resolve``); without them they are read here.
    """
    settings = settings or get_settings()
    verdict = Verdict()
    rows = list({row["id"]: row for row in recipients}.values())
    if not settings.contact_enforcement_enabled:
        for row in rows:
            (verdict.retired if row["retired_at"] is not None else verdict.allowed).append(row)
        return verdict
    now = utcnow()
    if links is None:
        links = await outgoing_links(session, sender["id"], [r["id"] for r in rows if r["id"] != sender["id"]])
    auto: list[RowMapping] = []
    for row in rows:
        policy = row["contact_policy"] if row["contact_policy"] in POLICIES else "auto"
        link = links.get(row["id"])
        if row["retired_at"] is not None:
            verdict.retired.append(row)
        elif policy == "block_all":
            verdict.blocked.append(row)
        elif row["id"] == sender["id"]:
            verdict.allowed.append(row)
        elif link is not None and link["status"] == "blocked":
            verdict.blocked.append(row)
        elif policy == "open" or (link is not None and link["status"] == "approved" and link_active(link, now)):
            verdict.allowed.append(row)
        elif policy == "contacts_only":
            verdict.required.append(row)
        elif row["project_id"] == sender["project_id"] and settings.contact_auto_allow_same_project:
            verdict.allowed.append(row)
        else:
            auto.append(row)
    passed = await _auto_allowed(session, sender, auto, thread_id, settings, now)
    for row in auto:
        (verdict.allowed if row["id"] in passed else verdict.required).append(row)
    return verdict


def request_call(project_key: str, sender: str, target: RowMapping, target_project: str | None) -> str:
    """Return the exact request_contact call that asks ``target`` for permission."""
    call = f"request_contact(project_key={project_key!r}, from_agent={sender!r}, to_agent={target['name']!r}"
    if target_project is not None:
        call += f", to_project={target_project!r}"
    return call + ', reason="<why you need to write>")'


def raise_refusals(
    verdict: Verdict,
    sender: RowMapping,
    project: RowMapping,
    label: Callable[[RowMapping], str],
    project_key_of: Callable[[RowMapping], str | None],
    *,
    requested: list[str] | None = None,
) -> None:
    """Raise AGENT_RETIRED, CONTACT_BLOCKED or CONTACT_REQUIRED (in that order) if anyone was refused."""
    if verdict.retired:
        names = [label(row) for row in verdict.retired]
        raise AgentRetiredError(
            f"Recipient(s) retired: {', '.join(names)}.",
            hint="Remove them from the recipients or ask for them to be unretired.",
            data={"retired": names},
        )
    if verdict.blocked:
        names = [label(row) for row in verdict.blocked]
        raise ContactBlockedError(
            f"Recipient is not accepting messages from {sender['name']}: {', '.join(names)}.",
            hint="Nothing was sent. Remove them from the recipients and coordinate through another agent.",
            data={"recipients_blocked": names},
        )
    if not verdict.required:
        return
    names = [label(row) for row in verdict.required]
    calls = [request_call(project["human_key"], sender["name"], row, project_key_of(row)) for row in verdict.required]
    message = f"Contact approval required before {sender['name']} can write to: {', '.join(names)}. Nothing was sent."
    if requested:
        message += f" Contact requests were sent to {', '.join(requested)}; send again once they approve."
        hint = "Wait for respond_contact from each recipient (list_contacts shows the status), then resend."
    else:
        shown = "; ".join(calls[:3]) + ("; ..." if len(calls) > 3 else "")
        hint = (
            f"Call {shown} and resend once approved (or pass auto_contact_if_blocked=true), or drop these recipients."
        )
    raise ContactRequiredError(
        message,
        hint=hint,
        data={"recipients_blocked": names, "suggested_tool_calls": calls, "auto_contact_requested": requested or []},
    )
