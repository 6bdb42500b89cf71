"""Agents: memorable identities inside a project."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mcp_agent_mail import archive
from mcp_agent_mail.db import get_session, schema, write_session
from mcp_agent_mail.db.shapes import agent_dict
from mcp_agent_mail.errors import InvalidArgumentError, ProjectArchivedError
from mcp_agent_mail.services.auth import BINDINGS, check_agent, hash_token
from mcp_agent_mail.services.common import find_agent, get_agent, resolve_project
from mcp_agent_mail.services.names import generate_name, name_key, normalise_agent_name
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


async def _insert_agent(
    session: Any, project: Any, name: str, program: str, model: str, task: str, attachments_policy: str
) -> tuple[dict[str, Any], str]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    agent_id = (await session.execute(
        schema.agents.insert().values(
            project_id=project["id"],
            name=name,
            name_key=name_key(name),
            program=program,
            model=model,
            task_description=task,
            inception_ts=now,
            last_active_ts=now,
            attachments_policy=attachments_policy,
            contact_policy="auto",
            registration_token_hash=hash_token(token),
        ).returning(schema.agents.c.id)
    )).scalar_one()
    await archive.enqueue(session, project["id"], "agent", agent_id)
    row = (await session.execute(select(schema.agents).where(schema.agents.c.id == agent_id))).mappings().one()
    return agent_dict(row), token


async def _pick_free_name(session: Any, project_id: int) -> str:
    for _ in range(200):
        candidate = generate_name()
        if await find_agent(session, project_id, candidate) is None:
            return candidate
    raise InvalidArgumentError(
        "Could not find a free generated name in this project.", hint="Pass an explicit name such as worker-17."
    )


async def _update_agent(
    session: Any, project: Any, existing: Any, program: str, model: str, task: str | None, policy: str | None
) -> tuple[dict[str, Any], str | None]:
    values: dict[str, Any] = {"program": program, "model": model, "last_active_ts": utcnow()}
    if task is not None:
        values["task_description"] = task
    if policy is not None:
        values["attachments_policy"] = policy
    token = None
    if existing["registration_token_hash"] is None:
        token = secrets.token_urlsafe(32)
        values["registration_token_hash"] = hash_token(token)
    a = schema.agents
    await session.execute(update(a).where(a.c.id == existing["id"]).values(**values))
    await archive.enqueue(session, project["id"], "agent", existing["id"])
    row = (await session.execute(select(a).where(a.c.id == existing["id"]))).mappings().one()
    return agent_dict(row), token


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
    stored token (e.g. rebuilt from the archive) is given a fresh one, returned once.
    """
    program = _require_text(program, "program")
    model = _require_text(model, "model")
    task = _check_task(task_description)
    policy = _check_policy(attachments_policy, ATTACHMENT_POLICIES, "attachments_policy")
    wanted = _valid_name(name, "name") if name is not None and name.strip() else None
    async with write_session() as session:
        project = await resolve_project(session, project_key)
        _ensure_writable(project)
        existing = await find_agent(session, project["id"], wanted) if wanted else None
        if existing is None:
            chosen = wanted or await _pick_free_name(session, project["id"])
            agent, token = await _insert_agent(
                session, project, chosen, program, model, task or "", policy or "auto"
            )
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
    """Always create a new agent; ``name_hint`` is used when valid and free. The calling session is bound to it."""
    program = _require_text(program, "program")
    model = _require_text(model, "model")
    task = _check_task(task_description) or ""
    policy = _check_policy(attachments_policy, ATTACHMENT_POLICIES, "attachments_policy") or "auto"
    hint = _valid_name(name_hint, "name_hint") if name_hint is not None and name_hint.strip() else None
    async with write_session() as session:
        project = await resolve_project(session, project_key)
        _ensure_writable(project)
        if hint and await find_agent(session, project["id"], hint) is not None:
            raise InvalidArgumentError(
                f"name_hint {hint!r} is already in use in this project.",
                hint="Omit name_hint to get a generated name, or choose another.",
            )
        chosen = hint or await _pick_free_name(session, project["id"])
        try:
            agent, token = await _insert_agent(session, project, chosen, program, model, task, policy)
        except IntegrityError as exc:  # a concurrent process took the name a moment ago
            raise InvalidArgumentError(f"Agent name {chosen!r} was just taken; call again.") from exc
    archive.wake_writer()
    BINDINGS.bind(session_key, agent["project_id"], agent["id"])
    agent["registration_token"] = token
    agent["verified"] = True
    return agent


async def whois(project_key: str, agent_name: str) -> dict[str, Any]:
    """Return the public profile of an agent."""
    async with get_session() as session:
        project = await resolve_project(session, project_key)
        row = await get_agent(session, project, agent_name)
        result = agent_dict(row)
        result["project"] = project["human_key"]
        return result


async def set_contact_policy(project_key: str, agent_name: str, policy: str) -> dict[str, Any]:
    """Store who may message this agent: open, auto, contacts_only or block_all."""
    cleaned = _check_policy(policy, CONTACT_POLICIES, "policy")
    async with write_session() as session:
        project = await resolve_project(session, project_key)
        _ensure_writable(project)
        agent = await get_agent(session, project, agent_name)
        a = schema.agents
        await session.execute(update(a).where(a.c.id == agent["id"]).values(contact_policy=cleaned))
        await archive.enqueue(session, project["id"], "agent", agent["id"])
    archive.wake_writer()
    return {"agent": agent["name"], "policy": cleaned}


async def list_agents(project_key: str) -> list[dict[str, Any]]:
    """Return the agents of a project, by name."""
    async with get_session() as session:
        project = await resolve_project(session, project_key)
        a = schema.agents
        rows = (await session.execute(select(a).where(a.c.project_id == project["id"]).order_by(a.c.name))).mappings()
        return [agent_dict(r) for r in rows]
