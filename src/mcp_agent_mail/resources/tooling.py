"""Tooling resources: tool directory and playbooks, argument summaries, call metrics, locks, capabilities, config."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail import __version__
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.resources._common import int_param, json_resource
from mcp_agent_mail.services import metrics
from mcp_agent_mail.services.database import printable_url
from mcp_agent_mail.services.health import archive_locks
from mcp_agent_mail.services.identity import auth
from mcp_agent_mail.services.identity.capabilities import configured_capabilities
from mcp_agent_mail.services.identity.roster import agent_standing
from mcp_agent_mail.services.recent_calls import recent_calls
from mcp_agent_mail.timeutil import iso, utcnow

CLUSTERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "Infrastructure & Workspace Setup",
        "infrastructure",
        "Check the server; create, archive and clean projects.",
        (
            "health_check",
            "ensure_project",
            "archive_project",
            "unarchive_project",
            "purge_old_messages",
            "hard_delete_project",
            "install_precommit_guard",
            "uninstall_precommit_guard",
        ),
    ),
    (
        "Identity & Directory",
        "identity",
        "Get an agent identity and look up other agents.",
        (
            "register_agent",
            "create_agent_identity",
            "whois",
            "retire_agent",
            "unretire_agent",
            "deregister_agent",
            "hard_delete_agent",
            "list_window_identities",
            "rename_window",
            "expire_window",
        ),
    ),
    (
        "Messaging Lifecycle",
        "messaging",
        "Send, read and acknowledge mail.",
        ("send_message", "reply_message", "fetch_inbox", "mark_message_read", "acknowledge_message"),
    ),
    (
        "Contact Governance",
        "contacts",
        "Decide who may write to whom.",
        ("set_contact_policy", "request_contact", "respond_contact", "list_contacts"),
    ),
    (
        "Search & Summaries",
        "search",
        "Find old mail and catch up on threads.",
        ("search_messages", "summarize_thread", "summarize_recent", "fetch_summary", "fetch_topic"),
    ),
    (
        "File Reservations & Workspace Guardrails",
        "file_reservations",
        "Lease files before editing them.",
        (
            "file_reservation_paths",
            "release_file_reservations",
            "renew_file_reservations",
            "force_release_file_reservation",
        ),
    ),
    (
        "Workflow Macros",
        "workflow_macros",
        "Common sequences in one call.",
        ("macro_start_session", "macro_prepare_thread", "macro_file_reservation_cycle", "macro_contact_handshake"),
    ),
)
_CLUSTER_OF = {tool: (title, key) for title, key, _, tools in CLUSTERS for tool in tools}

PLAYBOOKS: tuple[dict[str, Any], ...] = (
    {
        "workflow": "Start a session",
        "sequence": [
            "macro_start_session(human_key=<absolute repo path>, program, model, task_description) -> keep "
            "agent.name and registration_token",
            "or: ensure_project(human_key) then register_agent(project_key, program, model) (or create_agent_identity)",
            "fetch_inbox(project_key, agent_name) and acknowledge_message for each ack_required message",
        ],
    },
    {
        "workflow": "Send and reply",
        "sequence": [
            "send_message(project_key, sender_name, to=[names], subject, body_md, thread_id?, ack_required?)",
            "fetch_inbox(project_key, agent_name, since_ts=<last check>) to see answers",
            "reply_message(project_key, message_id, sender_name, body_md) keeps the thread, importance and ack flag",
            "acknowledge_message(project_key, agent_name, message_id) when the sender asked for an ack",
        ],
    },
    {
        "workflow": "Reserve, edit, release",
        "sequence": [
            "file_reservation_paths(project_key, agent_name, paths=[globs], ttl_seconds, exclusive=true, reason)",
            "on conflicts: message the holder, or force_release_file_reservation if it is provably stale",
            "edit the granted paths; renew_file_reservations while the work takes longer than the ttl",
            "release_file_reservations(project_key, agent_name) when done",
        ],
    },
    {
        "workflow": "Handle contacts",
        "sequence": [
            "send_message fails with CONTACT_REQUIRED -> request_contact(project_key, from_agent, to_agent, reason)",
            "the recipient sees the request in fetch_inbox and calls respond_contact(..., accept=true)",
            "list_contacts(project_key, agent_name) shows pending and approved links; then send again",
            "macro_contact_handshake does request (and with auto_accept, approval) in one call",
        ],
    },
    {
        "workflow": "Join a thread",
        "sequence": [
            "macro_prepare_thread(project_key, thread_id, program, model) or summarize_thread(project_key, thread_id)",
            "read resource://thread/{thread_id}?project=...&agent=... for the messages you can see",
            "reply_message to the latest message of the thread",
        ],
    },
)


def _summary(description: str | None) -> str:
    text = " ".join((description or "").split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


async def _live_tools(mcp: FastMCP) -> list[Any]:
    return sorted(await mcp.list_tools(run_middleware=False), key=lambda t: t.name)


def _args(tool: Any) -> dict[str, list[str]]:
    schema = tool.parameters or {}
    names = list((schema.get("properties") or {}).keys())
    required = [n for n in names if n in set(schema.get("required") or [])]
    shape: dict[str, list[str]] = {"required": required}
    optional = [n for n in names if n not in required]
    if optional:
        shape["optional"] = optional
    return shape


def register(mcp: FastMCP) -> None:
    """Register the tooling and configuration resources."""

    @json_resource(
        mcp,
        "resource://config/environment",
        name="config-environment",
        description="Server configuration without secrets: environment, database_url (password "
        "hidden), storage_root, http {host, port, path}, identity_mode, version.",
    )
    async def environment() -> dict[str, Any]:
        settings = get_settings()
        return {
            "environment": settings.environment,
            "version": __version__,
            "database_url": printable_url(settings.database.url),
            "storage_root": settings.storage.root,
            "http": {"host": settings.http.host, "port": settings.http.port, "path": settings.http.path},
            "identity_mode": auth.identity_mode(),
        }

    @json_resource(
        mcp,
        "resource://tooling/directory",
        name="tooling-directory",
        description="The tools of this server grouped by purpose, with one-line summaries, and playbooks: "
        "short step lists for the common workflows.",
    )
    async def directory() -> dict[str, Any]:
        tools = await _live_tools(mcp)
        groups: dict[str, dict[str, Any]] = {}
        for title, _key, purpose, _names in CLUSTERS:
            groups[title] = {"name": title, "purpose": purpose, "tools": []}
        for tool in tools:
            title = _CLUSTER_OF.get(tool.name, ("Other", "other"))[0]
            group = groups.setdefault(title, {"name": title, "purpose": "Other tools.", "tools": []})
            entry: dict[str, Any] = {"name": tool.name, "summary": _summary(tool.description)}
            hints = tool.annotations
            if hints is not None and hints.read_only_hint:
                entry["read_only"] = True
            if hints is not None and hints.destructive_hint:
                entry["destructive"] = True
            group["tools"].append(entry)
        return {
            "generated_at": iso(utcnow()),
            "metrics_uri": "resource://tooling/metrics",
            "clusters": [g for g in groups.values() if g["tools"]],
            "playbooks": list(PLAYBOOKS),
        }

    @json_resource(
        mcp,
        "resource://tooling/schemas",
        name="tooling-schemas",
        description="Required and optional arguments of every tool of this server.",
    )
    async def schemas() -> dict[str, Any]:
        tools = await _live_tools(mcp)
        return {"generated_at": iso(utcnow()), "tools": {tool.name: _args(tool) for tool in tools}}

    @json_resource(
        mcp,
        "resource://tooling/metrics",
        name="tooling-metrics",
        description="Tool calls counted by this server process since it started: per tool calls, "
        "errors, avg_ms, max_ms, last_called_ts (only tools called at least once).",
    )
    async def tool_metrics() -> dict[str, Any]:
        snap = metrics.snapshot()
        for entry in snap["tools"]:
            cluster = _CLUSTER_OF.get(entry["name"])
            if cluster is not None:
                entry["cluster"] = cluster[1]
        return {"generated_at": iso(utcnow()), **snap}

    @json_resource(
        mcp,
        "resource://tooling/recent/{window_seconds}{?agent,project}",
        name="tooling-recent",
        description="Tool calls of the last window_seconds (1-604800) in this server process, oldest "
        "first, with ok and duration_ms; optional filters agent and project (slug or path).",
    )
    async def recent(window_seconds: str, agent: str | None = None, project: str | None = None) -> dict[str, Any]:
        window = int_param(window_seconds, "window_seconds", 60, maximum=7 * 86400)
        entries = await recent_calls(window, project=project, agent=agent)
        return {"generated_at": iso(utcnow()), "window_seconds": window, "count": len(entries), "entries": entries}

    @json_resource(
        mcp,
        "resource://tooling/locks",
        name="tooling-locks",
        description="Archive locks, read only: whether the archive writer lock is held, Git lock files "
        "(stale_suspected when no writer holds the lock), and outbox rows not yet in the archive.",
    )
    async def locks() -> dict[str, Any]:
        return {"generated_at": iso(utcnow()), **await archive_locks()}

    @json_resource(
        mcp,
        "resource://tooling/capabilities/{agent}{?project}",
        name="tooling-capabilities",
        description="An agent's capabilities as configured in AGENT_CAPABILITIES_FILE ([] when it has no entry), "
        "the tool groups it may use (read-only ones when it is retired or its project archived) and the "
        "identity mode.",
    )
    async def capabilities(agent: str, project: str | None = None) -> dict[str, Any]:
        tools = {t.name for t in await _live_tools(mcp)}
        groups = [key for _title, key, _p, names in CLUSTERS if tools.intersection(names)]
        result: dict[str, Any] = {"generated_at": iso(utcnow()), "agent": agent, "identity_mode": auth.identity_mode()}
        writable = True
        project_keys: tuple[str, ...] = ()
        if project and project.strip():
            standing = await agent_standing(project.strip(), agent)
            result.update(project=standing["project"], agent=standing["agent"])
            project_keys = (project.strip(), standing["project"])
            if standing["read_only_reason"] is not None:
                writable = False
                result["read_only_reason"] = standing["read_only_reason"]
        result["capabilities"] = configured_capabilities(result["agent"], project_keys)
        result["tool_groups"] = sorted(set(["read", *groups] if writable else ["read", "search"]))
        return result
