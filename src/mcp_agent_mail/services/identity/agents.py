"""Agents: memorable identities inside a project."""

from __future__ import annotations

import secrets
from typing import Any, cast

from sqlalchemy import RowMapping, bindparam, func, update
from sqlalchemy.exc import IntegrityError

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.db.shapes import agent_dict
from mcp_agent_mail.errors import InvalidArgumentError, ProjectArchivedError
from mcp_agent_mail.services.identity import agent_commits, windows
from mcp_agent_mail.services.identity.auth import BINDINGS, check_agent, hash_token
from mcp_agent_mail.services.identity.names import generate_name, name_key, normalise_agent_name
from mcp_agent_mail.services.identity.project_agent import Row, project_and_agent
from mcp_agent_mail.services.identity.resolve import find_agent, get_agent, resolve_project
from mcp_agent_mail.timeutil import utcnow

ATTACHMENT_POLICIES = ("auto", "inline", "file")
CONTACT_POLICIES = ("open", "auto", "contacts_only", "block_all")
_NAME_HINT = "Use an Adjective+Noun name such as GreenCastle, or an id with '-', '_' or '.' such as worker-1."


def _require_text(value: str, field: str, limit: int = 128) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise InvalidArgumentError(f"{field} is empty.", hint=f"Pass a non-empty {field}, e.g. claude-code.")
    if len(cleaned) > limit:
        raise InvalidArgumentError(f"{field} is longer than {limit} characters.")
    return cleaned


def _check_policy(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().lower()
    if cleaned not in allowed:
        raise InvalidArgumentError(f"{field} {value!r} is not one of {', '.join(allowed)}.")
    return cleaned


def _check_task(task_description: str | None) -> str | None:
    if task_description is not None and len(task_description) > 2048:
        raise InvalidArgumentError("task_description is longer than 2048 characters.")
    return task_description


def _ensure_writable(project: Any) -> None:
    if project["archived_at"] is not None:
        raise ProjectArchivedError(f"Project {project['slug']!r} is archived.")


def _valid_name(name: str, field: str) -> str:
    normalised = normalise_agent_name(name)
    if normalised is None:
        raise InvalidArgumentError(f"{field} {name!r} is not a valid agent name.", hint=_NAME_HINT)
    return normalised


_a = schema.agents
_INSERT_AGENT = _a.insert().returning(*_a.c)
_UPDATE_AGENT = (
    update(_a)
    .where(_a.c.id == bindparam("agent_id"))
    .values(
        program=bindparam("new_program"),
        model=bindparam("new_model"),
        last_active_ts=bindparam("now", type_=_a.c.last_active_ts.type),
        task_description=func.coalesce(bindparam("task", type_=_a.c.task_description.type), _a.c.task_description),
        attachments_policy=func.coalesce(
            bindparam("policy", type_=_a.c.attachments_policy.type), _a.c.attachments_policy
        ),
        registration_token_hash=func.coalesce(
            _a.c.registration_token_hash, bindparam("token_hash", type_=_a.c.registration_token_hash.type)
        ),
    )
    .returning(*_a.c)
)
_SET_CONTACT_POLICY = update(_a).where(_a.c.id == bindparam("agent_id")).values(contact_policy=bindparam("policy"))


async def _insert_agent(
    session: WriteTransaction, project: Row, name: str, program: str, model: str, task: str, attachments_policy: str
) -> tuple[dict[str, Any], str]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    values = {
        "project_id": project["id"],
        "name": name,
        "name_key": name_key(name),
        "program": program,
        "model": model,
        "task_description": task,
        "inception_ts": now,
        "last_active_ts": now,
        "attachments_policy": attachments_policy,
        "contact_policy": "auto",
        "registration_token_hash": hash_token(token),
    }
    row = (await session.execute(_INSERT_AGENT, values)).mappings().one()
    await archive.enqueue(session, project["id"], "agent", row["id"])
    return agent_dict(row), token


async def _pick_free_name(session: ReadTransaction, project_id: int) -> str:
    for _ in range(200):
        candidate = generate_name()
        if await find_agent(session, project_id, candidate) is None:
            return candidate
    raise InvalidArgumentError(
        "Could not find a free generated name in this project.", hint="Pass an explicit name such as worker-17."
    )


async def _update_agent(
    session: WriteTransaction,
    project: Row,
    existing: Row,
    program: str,
    model: str,
    task: str | None,
    policy: str | None,
) -> tuple[dict[str, Any], str | None]:
    token = secrets.token_urlsafe(32) if existing["registration_token_hash"] is None else None
    params = {
        "agent_id": existing["id"],
        "new_program": program,
        "new_model": model,
        "now": utcnow(),
        "task": task,
        "policy": policy,
        "token_hash": hash_token(token) if token is not None else None,
    }
    row = (await session.execute(_UPDATE_AGENT, params)).mappings().one()
    await archive.enqueue(session, project["id"], "agent", existing["id"])
    return agent_dict(row), token


async def _attach_window(
    session: WriteTransaction,
    project_id: int,
    window: str | None,
    live: Row | None,
    agent: dict[str, Any],
    *,
    reused: bool,
) -> None:
    """Bind this server's window to the registered name: refresh a reused identity, record a missing one."""
    if window is None:
        return
    if live is None:
        await windows.record(session, project_id, window, agent["name"])
    elif reused:
        await windows.touch(session, live)
    agent["window_id"] = window
    agent["window_display_name"] = live["display_name"] if live is not None else agent["name"]


async def register_agent(
    project_key: str,
    program: str,
    model: str,
    name: str | None = None,
    task_description: str | None = None,
    attachments_policy: str | None = None,
    *,
    registration_token: str | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """Create an agent, or update the given fields of an existing one with that name.

    Updating an existing agent is acting as it: a wrong ``registration_token`` is refused, and in
    strict identity mode a proof (token or bound session) is required. An existing agent without a
    stored token (e.g. rebuilt from the archive) is given a fresh one, returned once. With
    MCP_AGENT_MAIL_WINDOW_ID set, a call without ``name`` uses the window's live identity, and a
    window without one records the registered name as its own.
    """
    program = _require_text(program, "program")
    model = _require_text(model, "model")
    task = _check_task(task_description)
    policy = _check_policy(attachments_policy, ATTACHMENT_POLICIES, "attachments_policy")
    wanted = _valid_name(name, "name") if name is not None and name.strip() else None

    async def unit(session: WriteTransaction) -> dict[str, Any]:
        project = await resolve_project(session, project_key)
        _ensure_writable(project)
        window = windows.current_window()
        live = await windows.live_identity(session, project["id"], window) if window else None
        name = wanted or (live["display_name"] if live is not None else None)
        existing = await find_agent(session, project["id"], name) if name else None
        if existing is None:
            chosen = name or await _pick_free_name(session, project["id"])
            agent, token = await _insert_agent(session, project, chosen, program, model, task or "", policy or "auto")
            agent["registration_token"] = token
            agent["created"] = True
            agent["verified"] = True
        else:
            claim = existing["registration_token_hash"] is None and not (registration_token or "").strip()
            verified = claim or check_agent(
                existing, registration_token, session_key, action="Re-registering", token_param="registration_token"
            )
            agent, fresh = await _update_agent(session, project, existing, program, model, task, policy)
            if fresh is not None:
                agent["registration_token"] = fresh
            agent["created"] = False
            agent["verified"] = verified
        await _attach_window(session, project["id"], window, live, agent, reused=wanted is None)
        return agent

    agent = await run_write(unit)
    archive.wake_writer()
    if agent["verified"]:
        BINDINGS.bind(session_key, agent["project_id"], agent["id"])
    return agent


async def create_agent_identity(
    project_key: str,
    program: str,
    model: str,
    name_hint: str | None = None,
    task_description: str = "",
    attachments_policy: str = "auto",
    *,
    session_key: str | None = None,
) -> dict[str, Any]:
    """Always create a new agent; ``name_hint`` is used when valid and free. The calling session is bound to it.

    Without a hint, a window identity whose name no agent holds yet gives the name; a window without a
    live identity records the new name as its own.
    """
    program = _require_text(program, "program")
    model = _require_text(model, "model")
    task = _check_task(task_description) or ""
    policy = _check_policy(attachments_policy, ATTACHMENT_POLICIES, "attachments_policy") or "auto"
    hint = _valid_name(name_hint, "name_hint") if name_hint is not None and name_hint.strip() else None

    async def unit(session: WriteTransaction) -> tuple[dict[str, Any], str]:
        project = await resolve_project(session, project_key)
        _ensure_writable(project)
        if hint and await find_agent(session, project["id"], hint) is not None:
            raise InvalidArgumentError(
                f"name_hint {hint!r} is already in use in this project.",
                hint="Omit name_hint to get a generated name, or choose another.",
            )
        window = windows.current_window()
        live = await windows.live_identity(session, project["id"], window) if window else None
        window_name = live["display_name"] if live is not None and hint is None else None
        reuse = window_name is not None and await find_agent(session, project["id"], window_name) is None
        chosen = hint or (window_name if reuse else None) or await _pick_free_name(session, project["id"])
        try:
            agent, token = await _insert_agent(session, project, chosen, program, model, task, policy)
        except IntegrityError as exc:  # a concurrent process took the name a moment ago
            raise InvalidArgumentError(f"Agent name {chosen!r} was just taken; call again.") from exc
        await _attach_window(session, project["id"], window, live, agent, reused=reuse)
        return agent, token

    agent, token = await run_write(unit)
    archive.wake_writer()
    BINDINGS.bind(session_key, agent["project_id"], agent["id"])
    agent["registration_token"] = token
    agent["verified"] = True
    return agent


async def ensure_reserved_agent(
    session: WriteTransaction, project: Row, name: str, *, program: str, model: str, task_description: str
) -> RowMapping:
    """Return the project's agent with a reserved name, creating it (open to all mail) inside this transaction.

    For identities the server itself speaks as, such as the web UI's human overseer. The name must
    be one register_agent refuses (neither Adjective+Noun nor an id with '-', '_' or '.'), so no
    agent can take it first; its registration token is never handed out, so in strict identity
    mode no MCP client can act as it.
    """
    if normalise_agent_name(name) is not None:
        raise ValueError(f"{name!r} is a name agents can register; a reserved identity needs one they cannot")
    existing = await find_agent(session, project["id"], name)
    if existing is not None:
        return existing
    agent, _unused_token = await _insert_agent(session, project, name, program, model, task_description, "auto")
    await session.execute(_SET_CONTACT_POLICY, {"agent_id": agent["id"], "policy": "open"})
    created = await find_agent(session, project["id"], name)
    assert created is not None
    return created


async def whois(
    project_key: str,
    agent_name: str,
    *,
    include_recent_commits: bool = False,
    commit_limit: int = 5,
    registration_token: str | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """Return the public profile of an agent, with the recent archive commits the caller may see if asked.

    The caller is identified by ``registration_token`` and by the agents ``session_key`` is bound to
    (see :mod:`.agent_commits`); a token held by no agent is refused.
    """

    async def read(session: ReadTransaction) -> tuple[Row, Row]:
        return await project_and_agent(session, project_key, agent_name)

    project, row = await run_read(read)
    result = agent_dict(cast(RowMapping, row))
    result["project"] = project["human_key"]
    if include_recent_commits:
        target = (row["project_id"], row["id"], row["name"])
        result["recent_commits"] = await agent_commits.visible_agent_commits(
            project_key, target, commit_limit, token=registration_token, session_key=session_key
        )
    else:
        await agent_commits.token_agent(registration_token)
    return result


async def set_contact_policy(project_key: str, agent_name: str, policy: str) -> dict[str, Any]:
    """Store who may message this agent: open, auto, contacts_only or block_all."""
    cleaned = _check_policy(policy, CONTACT_POLICIES, "policy")

    async def unit(session: WriteTransaction) -> str:
        project = await resolve_project(session, project_key)
        _ensure_writable(project)
        agent = await get_agent(session, project, agent_name)
        await session.execute(_SET_CONTACT_POLICY, {"agent_id": agent["id"], "policy": cleaned})
        await archive.enqueue(session, project["id"], "agent", agent["id"])
        return str(agent["name"])

    name = await run_write(unit)
    archive.wake_writer()
    return {"agent": name, "policy": cleaned}
