"""One-call workflows (start a session, prepare for a thread, reserve-and-release) built from the other services.

Each macro validates all of its arguments before its first write. The writes then happen
in the order a client would make the separate calls (project, agent, reservations), each
committed on its own; a later step that fails leaves the earlier ones in place exactly as
the separate tools would have, and the error says which step failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp_agent_mail.db import ReadTransaction, run_read
from mcp_agent_mail.errors import (
    AgentMailError,
    AgentRetiredError,
    InvalidArgumentError,
    NotFoundError,
    ProjectArchivedError,
)
from mcp_agent_mail.services.identity import agents, auth, projects
from mcp_agent_mail.services.identity.names import normalise_agent_name
from mcp_agent_mail.services.identity.resolve import check_limit, find_agent, normalise_human_key, resolve_project
from mcp_agent_mail.services.mail import inbox
from mcp_agent_mail.services.mail.drafts import check_thread_id
from mcp_agent_mail.services.reservations import leases as reservations
from mcp_agent_mail.services.summaries import summarize as summaries
from mcp_agent_mail.services.summaries.extract import empty_summary


def _require_text(value: str, field: str, limit: int = 128) -> None:
    cleaned = value.strip() if isinstance(value, str) else ""
    if not cleaned:
        raise InvalidArgumentError(f"{field} is empty.", hint=f"Pass a non-empty {field}, e.g. claude-code.")
    if len(cleaned) > limit:
        raise InvalidArgumentError(f"{field} is longer than {limit} characters.")


def _check_registration(program: str, model: str, agent_name: str | None, task_description: str) -> str | None:
    """Validate what register_agent will be given; return the agent name (None: a new one is generated)."""
    _require_text(program, "program")
    _require_text(model, "model")
    if task_description is not None and len(task_description) > 2048:
        raise InvalidArgumentError("task_description is longer than 2048 characters.")
    if agent_name is None or not agent_name.strip():
        return None
    if normalise_agent_name(agent_name) is None:
        raise InvalidArgumentError(
            f"agent_name {agent_name!r} is not a valid agent name.",
            hint="Use an Adjective+Noun name such as GreenCastle, or an id with '-', '_' or '.' such as worker-1.",
        )
    return agent_name.strip()


async def _refuse_inactive(project_key: str, agent_name: str | None, *, must_exist: bool) -> None:
    """Raise before any write when the project is archived or the named agent is retired."""

    async def check(session: ReadTransaction) -> None:
        try:
            project = await resolve_project(session, project_key)
        except AgentMailError:
            if must_exist:
                raise
            return
        if project["archived_at"] is not None:
            raise ProjectArchivedError(f"Project {project['slug']!r} is archived.")
        if agent_name is None:
            return
        agent = await find_agent(session, project["id"], agent_name)
        if agent is not None and agent["retired_at"] is not None:
            raise AgentRetiredError(f"Agent {agent['name']!r} is retired.")

    await run_read(check)


def _session_view(agent: dict[str, Any]) -> dict[str, Any]:
    """Split a registration result into the agent profile and the once-only token."""
    profile = dict(agent)
    token = profile.get("registration_token")
    result: dict[str, Any] = {"agent": profile, "verified": bool(profile.get("verified", False))}
    if token:
        result["registration_token"] = token
    return result


async def start_session(
    human_key: str,
    program: str,
    model: str,
    agent_name: str | None = None,
    task_description: str = "",
    file_reservation_paths: Sequence[str] | None = None,
    file_reservation_reason: str = "macro-session",
    file_reservation_ttl_seconds: int = 3600,
    inbox_limit: int = 10,
    *,
    registration_token: str | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """Ensure the project, register (or re-register) the agent, optionally reserve paths, and read the inbox."""
    key = normalise_human_key(human_key)
    name = _check_registration(program, model, agent_name, task_description)
    if file_reservation_paths is not None:
        reservations.check_reserve_request(
            file_reservation_paths, file_reservation_ttl_seconds, file_reservation_reason
        )
    check_limit(inbox_limit, field="inbox_limit")
    await _refuse_inactive(key, name, must_exist=False)

    project = await projects.ensure_project(key)
    agent = await agents.register_agent(
        project["human_key"],
        program,
        model,
        name,
        task_description or None,
        registration_token=registration_token,
        session_key=session_key,
    )
    result: dict[str, Any] = {"project": project, **_session_view(agent)}
    if file_reservation_paths is not None:
        result["file_reservations"] = await reservations.reserve_paths(
            project["human_key"],
            agent["name"],
            file_reservation_paths,
            file_reservation_ttl_seconds,
            True,
            file_reservation_reason,
        )
    else:
        result["file_reservations"] = {"granted": [], "conflicts": []}
    result["inbox"] = await inbox.fetch_inbox(project["human_key"], agent["name"], limit=inbox_limit)
    return result


# ---------------------------------------------------------------------------
# Thread context


async def _thread_context(
    project_key: str, viewer: str, thread_id: str, include_examples: bool, llm_mode: bool, llm_model: str | None
) -> dict[str, Any]:
    """Summarise the thread as ``viewer`` sees it; a thread with no visible message yet gives an empty summary."""
    try:
        found = await summaries.summarize_thread(
            project_key, thread_id, include_examples, llm_mode, llm_model, agent_name=viewer
        )
    except NotFoundError as exc:
        if "missing_thread_ids" not in exc.data:
            raise
        found = {"thread_id": thread_id, "summary": empty_summary(), "examples": []}
    summary = found["summary"]
    result: dict[str, Any] = {"thread_id": thread_id, "summary": summary}
    if include_examples:
        result["examples"] = found.get("examples", [])
    result["total_messages"] = summary.get("total_messages", 0)
    return result


async def prepare_thread(
    project_key: str,
    thread_id: str,
    program: str,
    model: str,
    agent_name: str | None = None,
    task_description: str = "",
    register_if_missing: bool = True,
    include_examples: bool = True,
    inbox_limit: int = 10,
    include_inbox_bodies: bool = False,
    *,
    llm_mode: bool = False,
    llm_model: str | None = None,
    registration_token: str | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """Register or identify the agent, then return the thread's context and the agent's inbox."""
    thread = check_thread_id(thread_id)
    if thread is None:
        raise InvalidArgumentError("thread_id is empty.", hint="Pass the thread id, e.g. FEAT-123 or a message id.")
    check_limit(inbox_limit, field="inbox_limit")
    if register_if_missing:
        name = _check_registration(program, model, agent_name, task_description)
    elif agent_name is None or not agent_name.strip():
        raise InvalidArgumentError(
            "agent_name is required when register_if_missing is false.",
            hint="Pass your agent name, or set register_if_missing to true to register one.",
        )
    else:
        name = agent_name.strip()
    await _refuse_inactive(project_key, name if register_if_missing else None, must_exist=True)
    project = await projects.get_project(project_key)

    if register_if_missing:
        agent = await agents.register_agent(
            project["human_key"],
            program,
            model,
            name,
            task_description or None,
            registration_token=registration_token,
            session_key=session_key,
        )
        view = _session_view(agent)
    else:
        assert name is not None
        proof = await auth.authorize_agent(
            project["human_key"],
            name,
            registration_token,
            session_key,
            action="Calling macro_prepare_thread",
            token_param="registration_token",
        )
        profile = await agents.whois(project["human_key"], name)
        profile.pop("project", None)
        view = {"agent": profile, "verified": proof.verified}
    agent_name_final = view["agent"]["name"]
    thread_view = await _thread_context(
        project["human_key"], agent_name_final, thread, include_examples, llm_mode, llm_model
    )
    items = await inbox.fetch_inbox(
        project["human_key"], agent_name_final, limit=inbox_limit, include_bodies=include_inbox_bodies
    )
    return {"project": project, **view, "thread": thread_view, "inbox": items}


async def file_reservation_cycle(
    project_key: str,
    agent_name: str,
    paths: Sequence[str],
    ttl_seconds: int = 3600,
    exclusive: bool = True,
    reason: str = "macro-file_reservation",
    auto_release: bool = False,
) -> dict[str, Any]:
    """Reserve paths and, with ``auto_release``, release what was granted right away."""
    reserved = await reservations.reserve_paths(project_key, agent_name, paths, ttl_seconds, exclusive, reason)
    released: dict[str, Any] | None = None
    if auto_release:
        ids = [entry["id"] for entry in reserved["granted"]]
        if ids:
            released = await reservations.release_reservations(project_key, agent_name, file_reservation_ids=ids)
        else:
            released = {"released": 0}
    return {"file_reservations": reserved, "released": released}


__all__ = ["file_reservation_cycle", "prepare_thread", "start_session"]
