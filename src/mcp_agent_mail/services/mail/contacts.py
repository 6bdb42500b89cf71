"""Contacts: directed links A->B (pending, approved, blocked) that let A write to B under strict policies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, or_, select, update

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.errors import (
    AgentRetiredError,
    ContactBlockedError,
    InvalidArgumentError,
)
from mcp_agent_mail.services.identity import auth
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.services.mail import recipients as rcpt
from mcp_agent_mail.services.mail.drafts import Draft, check_body, check_subject, check_thread_id
from mcp_agent_mail.services.mail.policy import link_active
from mcp_agent_mail.services.mail.store import ensure_active, ensure_writable, store_message
from mcp_agent_mail.timeutil import ensure_utc, iso, utcnow

REQUEST_TTL_SECONDS = 7 * 86400
APPROVAL_TTL_SECONDS = 30 * 86400
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 365 * 86400
REASON_MAX = 512


def check_ttl(value: int, notices: list[str]) -> int:
    """Validate a link lifetime in seconds; values under a minute become 60 (with a notice)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > MAX_TTL_SECONDS:
        raise InvalidArgumentError(
            f"ttl_seconds must be an integer from 60 to {MAX_TTL_SECONDS}; got {value!r}.",
            hint="Use 604800 (7 days) for a request or 2592000 (30 days) for an approval.",
        )
    if value < MIN_TTL_SECONDS:
        notices.append(f"ttl_seconds {value} was raised to the minimum of {MIN_TTL_SECONDS}.")
        return MIN_TTL_SECONDS
    return value


def check_reason(reason: str | None) -> str:
    """Return the trimmed reason, or raise if it is longer than 512 characters."""
    cleaned = (reason or "").strip() if isinstance(reason, str) else ""
    if len(cleaned) > REASON_MAX:
        raise InvalidArgumentError(f"reason is {len(cleaned)} characters; the limit is {REASON_MAX}.")
    return cleaned


async def _target(
    session: ReadTransaction, home: RowMapping, name: str, project_key: str | None, field: str
) -> tuple[RowMapping, RowMapping]:
    """Resolve ``name`` (which may carry ``@project``) in ``project_key`` or the home project."""
    address = rcpt.parse_address(name or "")
    key = project_key.strip() if isinstance(project_key, str) and project_key.strip() else address.project
    project = home if key is None else await resolve_project(session, key)
    agent = await get_agent(session, project, address.name, field=field)
    return project, agent


async def _link(session: ReadTransaction, a: RowMapping, b: RowMapping) -> RowMapping | None:
    k = schema.agent_links
    query = select(k).where(k.c.a_agent_id == a["id"], k.c.b_agent_id == b["id"])
    return (await session.execute(query)).mappings().first()


async def _save_link(
    session: WriteTransaction,
    existing: RowMapping | None,
    a: RowMapping,
    b: RowMapping,
    **values: Any,
) -> None:
    """Insert or update the link a->b and queue both ends for the archive (their contacts.json changed)."""
    k = schema.agent_links
    now = utcnow()
    if existing is None:
        await session.execute(
            k.insert().values(
                a_project_id=a["project_id"],
                a_agent_id=a["id"],
                b_project_id=b["project_id"],
                b_agent_id=b["id"],
                created_ts=now,
                updated_ts=now,
                **values,
            )
        )
    else:
        await session.execute(update(k).where(k.c.id == existing["id"]).values(updated_ts=now, **values))
    await archive.enqueue(session, a["project_id"], "agent", a["id"])
    await archive.enqueue(session, b["project_id"], "agent", b["id"])


def _later(existing: RowMapping | None, candidate: datetime, now: datetime) -> datetime:
    """Keep the later expiry when an approved link is renewed."""
    if existing is None or existing["status"] != "approved" or not link_active(existing, now):
        return candidate
    if existing["expires_ts"] is None:
        return candidate
    return max(ensure_utc(existing["expires_ts"]), candidate)


def _intro_body(
    requester: RowMapping, req_project: RowMapping, target: RowMapping, tgt_project: RowMapping, reason: str
) -> str:
    call = (
        f"respond_contact(project_key={tgt_project['human_key']!r}, to_agent={target['name']!r}, "
        f"from_agent={requester['name']!r}"
    )
    if req_project["id"] != tgt_project["id"]:
        call += f", from_project={req_project['human_key']!r}"
    lines = [
        f"{requester['name']} ({req_project['slug']}) asks to be allowed to send you messages.",
        "",
        f"Reason: {reason}" if reason else "No reason was given.",
        "",
        f"To accept call `{call}, accept=true)`; to refuse, the same with `accept=false`.",
    ]
    return "\n".join(lines)


async def _send_intro(
    session: WriteTransaction,
    req_project: RowMapping,
    requester: RowMapping,
    tgt_project: RowMapping,
    target: RowMapping,
    reason: str,
) -> dict[str, Any]:
    draft = Draft(
        subject=f"Contact request from {requester['name']}",
        body_md=_intro_body(requester, req_project, target, tgt_project, reason),
        importance="normal",
        ack_required=True,
        thread_id=None,
        topic=None,
    )
    recipients = rcpt.Recipients(home_project_id=req_project["id"])
    recipients.add(target, "to", tgt_project["slug"])
    return await store_message(session, req_project, requester, draft, recipients)


def _check_target(requester: RowMapping, target: RowMapping, tgt_project: RowMapping, *, refuse_blocked: bool) -> bool:
    """Refuse self-contact, archived projects and retired targets; tell whether the target blocks all mail.

    With ``refuse_blocked`` a ``block_all`` target raises CONTACT_BLOCKED instead.
    """
    if target["id"] == requester["id"]:
        raise InvalidArgumentError(
            "An agent cannot request contact with itself (self-contact).",
            hint="Name another agent; writing to yourself needs no contact.",
        )
    ensure_writable(tgt_project)
    if target["retired_at"] is not None:
        raise AgentRetiredError(f"Agent {target['name']!r} is retired.", hint="Address an active agent.")
    blocks_all = target["contact_policy"] == "block_all"
    if blocks_all and refuse_blocked:
        raise ContactBlockedError(
            f"Recipient is not accepting messages: {target['name']} blocks all contact (block_all).",
            hint="Coordinate through another agent.",
        )
    return blocks_all


def _refused_request(
    project: RowMapping, requester: RowMapping, tgt_project: RowMapping, target: RowMapping, notices: list[str]
) -> dict[str, Any]:
    """The answer to a request made to a ``block_all`` agent: status blocked, nothing stored or sent."""
    notice = (
        f"Recipient is not accepting messages: {target['name']} blocks all contact (block_all); "
        "no request was stored or sent."
    )
    return {
        "from": requester["name"],
        "from_project": project["human_key"],
        "to": target["name"],
        "to_project": tgt_project["human_key"],
        "status": "blocked",
        "expires_ts": None,
        "notices": [*notices, notice],
    }


async def request_contact(
    project_key: str,
    from_agent: str,
    to_agent: str,
    to_project: str | None = None,
    reason: str = "",
    ttl_seconds: int = REQUEST_TTL_SECONDS,
) -> dict[str, Any]:
    """Ask ``to_agent`` for permission to write to it: a pending link plus an intro message it must acknowledge."""
    notices: list[str] = []
    ttl = check_ttl(ttl_seconds, notices)
    why = check_reason(reason)

    async def unit(session: WriteTransaction) -> tuple[dict[str, Any], bool]:
        project = await resolve_project(session, project_key)
        ensure_writable(project)
        requester = await get_agent(session, project, from_agent, field="from_agent")
        ensure_active(requester)
        tgt_project, target = await _target(session, project, to_agent, to_project, "to_agent")
        if _check_target(requester, target, tgt_project, refuse_blocked=False):
            return _refused_request(project, requester, tgt_project, target, notices), False
        existing = await _link(session, requester, target)
        now = utcnow()
        if existing is not None and existing["status"] == "blocked":
            raise ContactBlockedError(
                f"{target['name']} declined contact requests from {requester['name']}.",
                hint="Do not ask again; coordinate through another agent.",
            )
        active = existing is not None and link_active(existing, now)
        expires = now + timedelta(seconds=ttl)
        intro = None
        if active and existing is not None and existing["status"] == "approved":
            status, expires = "approved", _later(existing, expires, now)
        elif active:
            status = "pending"
        else:
            status = "pending"
            intro = await _send_intro(session, project, requester, tgt_project, target, why)
        await _save_link(session, existing, requester, target, status=status, reason=why, expires_ts=expires)
        result: dict[str, Any] = {
            "from": requester["name"],
            "from_project": project["human_key"],
            "to": target["name"],
            "to_project": tgt_project["human_key"],
            "status": status,
            "expires_ts": iso(expires),
        }
        if intro is not None:
            result["notification_message"] = intro
        if notices:
            result["notices"] = notices
        return result, True

    result, wrote = await run_write(unit)
    if wrote:
        archive.wake_writer()
    return result


async def respond_contact(
    project_key: str,
    to_agent: str,
    from_agent: str,
    accept: bool,
    from_project: str | None = None,
    ttl_seconds: int = APPROVAL_TTL_SECONDS,
) -> dict[str, Any]:
    """Approve (for ttl_seconds) or block the link from ``from_agent`` to the responding ``to_agent``."""
    notices: list[str] = []
    ttl = check_ttl(ttl_seconds, notices) if accept else ttl_seconds

    async def unit(session: WriteTransaction) -> tuple[dict[str, Any], int]:
        project = await resolve_project(session, project_key)
        ensure_writable(project)
        responder = await get_agent(session, project, to_agent, field="to_agent")
        ensure_active(responder)
        req_project, requester = await _target(session, project, from_agent, from_project, "from_agent")
        if requester["id"] == responder["id"]:
            raise InvalidArgumentError(
                "An agent cannot respond to itself (self-contact).", hint="Name the requesting agent."
            )
        existing = await _link(session, requester, responder)
        now = utcnow()
        updated = 1
        expires: datetime | None = None
        if accept:
            status = "approved"
            expires = _later(existing, now + timedelta(seconds=ttl), now)
            await _save_link(session, existing, requester, responder, status=status, expires_ts=expires)
        elif existing is None:
            status, updated = "none", 0
        else:
            status = "blocked"
            await _save_link(session, existing, requester, responder, status=status, expires_ts=None)
        result: dict[str, Any] = {
            "from": requester["name"],
            "from_project": req_project["human_key"],
            "to": responder["name"],
            "to_project": project["human_key"],
            "approved": bool(accept),
            "status": status,
            "expires_ts": iso(expires),
            "updated": updated,
        }
        if notices:
            result["notices"] = notices
        return result, updated

    result, updated = await run_write(unit)
    if updated:
        archive.wake_writer()
    return result


def _entry(row: RowMapping, outgoing: bool, now: datetime) -> dict[str, Any]:
    active = link_active(row, now)
    entry: dict[str, Any] = {"direction": "outgoing" if outgoing else "incoming"}
    if outgoing:
        entry.update({"to": row["name"], "to_project": row["human_key"]})
    else:
        entry.update({"from": row["name"], "from_project": row["human_key"]})
    entry.update(
        status=row["status"],
        is_expired=row["status"] != "blocked" and not active,
        allows_messaging=row["status"] == "approved" and active,
        reason=row["reason"],
        updated_ts=iso(row["updated_ts"]),
        expires_ts=iso(row["expires_ts"]),
    )
    return entry


async def list_contacts(project_key: str, agent_name: str) -> list[dict[str, Any]]:
    """Return the agent's links in both directions (requests it made and requests made to it), newest first."""

    async def read(session: ReadTransaction) -> tuple[RowMapping, list[RowMapping]]:
        project = await resolve_project(session, project_key)
        agent = await get_agent(session, project, agent_name)
        k, a, p = schema.agent_links, schema.agents, schema.projects
        other = (k.c.a_agent_id == agent["id"]) & (a.c.id == k.c.b_agent_id)
        other = or_(other, (k.c.b_agent_id == agent["id"]) & (a.c.id == k.c.a_agent_id))
        rows = (
            (
                await session.execute(
                    select(k, a.c.name, p.c.human_key)
                    .select_from(k.join(a, other).join(p, p.c.id == a.c.project_id))
                    .order_by(k.c.updated_ts.desc(), k.c.id.desc())
                )
            )
            .mappings()
            .all()
        )
        return agent, list(rows)

    agent, rows = await run_read(read)
    now = utcnow()
    return [_entry(row, row["a_agent_id"] == agent["id"], now) for row in rows]


async def contact_handshake(
    project_key: str,
    requester: str,
    target: str,
    to_project: str | None = None,
    reason: str = "",
    ttl_seconds: int = REQUEST_TTL_SECONDS,
    auto_accept: bool = False,
    welcome_subject: str | None = None,
    welcome_body: str | None = None,
    thread_id: str | None = None,
    target_registration_token: str | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """Request contact and, when the caller may act as the target, approve it and send a welcome, atomically."""
    subject = (welcome_subject or "").strip()
    body = (welcome_body or "").strip()
    if bool(subject) != bool(body):
        raise InvalidArgumentError("welcome_subject and welcome_body go together.", hint="Give both, or neither.")
    if subject and not auto_accept:
        raise InvalidArgumentError(
            "A welcome message needs auto_accept=true.",
            hint="Without approval the request's intro message already carries your reason.",
        )
    notices: list[str] = []
    ttl = check_ttl(ttl_seconds, notices)
    why = check_reason(reason)
    welcome_draft = None
    if subject:
        welcome_draft = Draft(
            subject=check_subject(subject, notices),
            body_md=check_body(body),
            importance="normal",
            ack_required=False,
            thread_id=check_thread_id(thread_id),
            topic=None,
        )
    if not auto_accept:
        result = await request_contact(project_key, requester, target, to_project, why, ttl)
        return {"request": result}

    async def unit(session: WriteTransaction) -> dict[str, Any]:
        project = await resolve_project(session, project_key)
        ensure_writable(project)
        sender = await get_agent(session, project, requester, field="requester")
        ensure_active(sender)
        tgt_project, tgt = await _target(session, project, target, to_project, "target")
        _check_target(sender, tgt, tgt_project, refuse_blocked=True)
        # The caller approves on the target's behalf: it must be allowed to act as the target.
        auth.check_agent(
            tgt,
            target_registration_token,
            session_key,
            action="Approving contact (auto_accept)",
            token_param="target_registration_token",
        )
        existing = await _link(session, sender, tgt)
        now = utcnow()
        expires = _later(existing, now + timedelta(seconds=ttl), now)
        await _save_link(session, existing, sender, tgt, status="approved", reason=why, expires_ts=expires)
        welcome = None
        if welcome_draft is not None:
            recipients = rcpt.Recipients(home_project_id=project["id"])
            recipients.add(tgt, "to", tgt_project["slug"])
            welcome = await store_message(session, project, sender, welcome_draft, recipients)
        side = {
            "from": sender["name"],
            "from_project": project["human_key"],
            "to": tgt["name"],
            "to_project": tgt_project["human_key"],
            "status": "approved",
            "expires_ts": iso(expires),
        }
        handshake: dict[str, Any] = {"request": side, "response": side}
        if welcome is not None:
            handshake["welcome_message"] = {
                "deliveries": [{"project": project["human_key"], "payload": welcome}],
                "count": 1,
            }
        if notices:
            handshake["notices"] = notices
        return handshake

    handshake = await run_write(unit)
    archive.wake_writer()
    return handshake
