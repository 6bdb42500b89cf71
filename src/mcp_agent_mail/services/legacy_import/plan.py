"""Map the original's rows onto this program's tables: projects, agents, contacts and window identities.

The mapping is done inside the import's transaction, against what the mailbox
already holds (:mod:`.target`). A row that cannot be imported is counted in the
report with its reason and left out, and so is every row that depends on it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services.identity.names import name_key, normalise_agent_name
from mcp_agent_mail.services.identity.resolve import normalise_human_key, slugify
from mcp_agent_mail.services.legacy_import import values as v
from mcp_agent_mail.services.legacy_import.report import ImportReport
from mcp_agent_mail.services.legacy_import.source import Source
from mcp_agent_mail.services.legacy_import.target import NUMBERED, Ids, Target, id_allocator

ATTACHMENT_POLICIES = ("auto", "inline", "file")
CONTACT_POLICIES = ("open", "auto", "contacts_only", "block_all")
LINK_STATUSES = ("pending", "approved", "blocked")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAX_SLUG = 64


@dataclass
class Plan:
    """Rows to insert per table of ours, with the maps from source ids to ours."""

    report: ImportReport
    target: Target
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    projects: dict[int, int] = field(default_factory=dict)
    slugs: dict[int, str] = field(default_factory=dict)
    agents: dict[int, int] = field(default_factory=dict)
    agent_project: dict[int, int] = field(default_factory=dict)
    messages: dict[int, int] = field(default_factory=dict)
    new_agents: set[int] = field(default_factory=set)
    new_projects: set[int] = field(default_factory=set)
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row for ``table``."""
        self.rows.setdefault(table, []).append(row)

    def project_of(self, row: dict[str, Any]) -> int:
        """Return our id of the row's project, or raise BadValue when that project was not imported."""
        project_id = self.projects.get(v.row_id(row, "project_id"))
        if project_id is None:
            raise v.BadValue("its project was not imported")
        return project_id


def allocators(conn: Connection, source: Source) -> dict[str, Ids]:
    """Return one id allocator per numbered kind, for the ids the source uses."""
    tables = {
        "projects": "projects",
        "agents": "agents",
        "messages": "messages",
        "file_reservations": "file_reservations",
        "contacts": "agent_links",
        "window_identities": "window_identities",
        "summaries": "message_summaries",
    }
    found: dict[str, Ids] = {}
    for kind, table in tables.items():
        wanted = []
        for row in source.table(table):
            try:
                wanted.append(v.row_id(row))
            except v.BadValue:
                continue
        found[kind] = id_allocator(conn, NUMBERED[kind], wanted)
    return found


def take_id(plan: Plan, ids: Ids, kind: str, row: dict[str, Any], what: str) -> int | None:
    """Return our id for the row's own id, or None after reporting it skipped (unreadable or seen twice)."""
    try:
        wanted = v.row_id(row)
    except v.BadValue as exc:
        plan.report.skip(kind, str(exc), what)
        return None
    given = ids.assign(wanted)
    if given is None:
        plan.report.skip(kind, "the id appears twice in the source", what)
    return given


def _slug_for(plan: Plan, raw: Any, human_key: str) -> str:
    """Keep the original slug when it is a plain one and free; otherwise derive one from the path."""
    taken = plan.target.slugs
    if isinstance(raw, str) and _SLUG.match(raw) and raw not in taken:
        return raw
    slug = slugify(human_key)
    digest = hashlib.sha1(human_key.encode()).hexdigest()[:8]
    if len(slug) > _MAX_SLUG:
        slug = slug[: _MAX_SLUG - 9].rstrip("-") + "-" + digest
    if slug in taken:
        slug = f"{slug[: _MAX_SLUG - 9]}-{digest}"
    plan.report.notes.append(f"project {human_key}: slug {str(raw)[:80]!r} was not usable here; it is now {slug!r}")
    return slug


def map_projects(plan: Plan, source: Source, ids: Ids) -> None:
    """Map projects: by path onto an existing project, else as new rows."""
    report = plan.report
    for row in source.table("projects"):
        what = f"project {row.get('id')!r} ({str(row.get('human_key'))[:80]})"
        try:
            raw_key = v.text(row, "human_key", 4096)
            human_key = normalise_human_key(raw_key)
            created = v.timestamp(row, "created_at")
            archived = v.timestamp(row, "archived_at", required=False)
        except v.BadValue as exc:
            report.skip("projects", str(exc), what)
            continue
        except AgentMailError as exc:
            report.skip("projects", f"human_key is not usable ({exc.message.rstrip('.')})", what)
            continue
        try:
            source_id = v.row_id(row)
        except v.BadValue as exc:
            report.skip("projects", str(exc), what)
            continue
        existing = plan.target.projects.get(human_key)
        if existing is not None:
            plan.projects[source_id] = existing[0]
            plan.slugs[existing[0]] = existing[1]
            report.merged["projects"] += 1
            continue
        new_id = take_id(plan, ids, "projects", row, what)
        if new_id is None:
            continue
        slug = _slug_for(plan, row.get("slug"), human_key)
        plan.target.projects[human_key] = (new_id, slug)
        plan.target.slugs.add(slug)
        plan.projects[source_id] = new_id
        plan.slugs[new_id] = slug
        plan.new_projects.add(new_id)
        values = {"id": new_id, "slug": slug, "human_key": human_key, "created_at": created, "archived_at": archived}
        plan.add("projects", values)
        report.count("projects")


def _agent_values(row: dict[str, Any]) -> dict[str, Any]:
    raw_name = v.text(row, "name", 128)
    name = normalise_agent_name(raw_name)
    if name is None:
        raise v.BadValue("name is not a valid agent name")
    attachments_policy = v.choice(row.get("attachments_policy", "auto"), ATTACHMENT_POLICIES)
    contact_policy = v.choice(row.get("contact_policy", "auto"), CONTACT_POLICIES)
    return {
        "name": name,
        "name_key": name_key(name),
        "program": v.text(row, "program", 128, default=""),
        "model": v.text(row, "model", 128, default=""),
        "task_description": v.text(row, "task_description", 2048, default=""),
        "inception_ts": v.timestamp(row, "inception_ts"),
        "last_active_ts": v.timestamp(row, "last_active_ts"),
        "attachments_policy": attachments_policy or "auto",
        "contact_policy": contact_policy or "auto",
        "registration_token_hash": None,
        "retired_at": v.timestamp(row, "retired_at", required=False),
    }


def map_agents(plan: Plan, source: Source, ids: Ids) -> None:
    """Map agents; an agent already registered under that name in the project is the same agent."""
    report = plan.report
    for row in source.table("agents"):
        what = f"agent {row.get('id')!r} ({str(row.get('name'))[:80]})"
        try:
            source_id = v.row_id(row)
            project_id = plan.project_of(row)
            values = _agent_values(row)
        except v.BadValue as exc:
            report.skip("agents", str(exc), what)
            continue
        key = (project_id, values["name_key"])
        existing = plan.target.agents.get(key)
        if existing is not None:
            plan.agents[source_id] = existing
            plan.agent_project[existing] = project_id
            report.merged["agents"] += 1
            continue
        new_id = take_id(plan, ids, "agents", row, what)
        if new_id is None:
            continue
        plan.target.agents[key] = new_id
        plan.agents[source_id] = new_id
        plan.agent_project[new_id] = project_id
        plan.new_agents.add(new_id)
        plan.add("agents", {"id": new_id, "project_id": project_id, **values})
        report.count("agents")
        report.agents_to_register.setdefault(plan.slugs[project_id], []).append(values["name"])


def map_links(plan: Plan, source: Source, ids: Ids) -> None:
    """Map contact links (a -> b) between imported agents; a pair already present here is kept as it is."""
    report = plan.report
    for row in source.table("agent_links"):
        what = f"contact {row.get('id')!r}"
        try:
            a = plan.agents.get(v.row_id(row, "a_agent_id"))
            b = plan.agents.get(v.row_id(row, "b_agent_id"))
            if a is None or b is None:
                raise v.BadValue("an agent of the pair was not imported")
            status = v.choice(row.get("status"), LINK_STATUSES)
            if status is None:
                raise v.BadValue("status is not pending, approved or blocked")
            values = {
                "a_project_id": plan.agent_project[a],
                "a_agent_id": a,
                "b_project_id": plan.agent_project[b],
                "b_agent_id": b,
                "status": status,
                "reason": v.text(row, "reason", 512, default=""),
                "created_ts": v.timestamp(row, "created_ts"),
                "updated_ts": v.timestamp(row, "updated_ts"),
                "expires_ts": v.timestamp(row, "expires_ts", required=False),
            }
        except v.BadValue as exc:
            report.skip("contacts", str(exc), what)
            continue
        if a == b or (a, b) in plan.target.links:
            report.skip("contacts", "the pair is already linked (or links an agent to itself)", what)
            continue
        new_id = take_id(plan, ids, "contacts", row, what)
        if new_id is None:
            continue
        plan.target.links.add((a, b))
        plan.add("agent_links", {"id": new_id, **values})
        report.count("contacts")


def map_windows(plan: Plan, source: Source, ids: Ids) -> None:
    """Map window identities (one per project and window UUID)."""
    report = plan.report
    for row in source.table("window_identities"):
        what = f"window identity {row.get('id')!r}"
        try:
            project_id = plan.project_of(row)
            uuid = v.window_uuid(row.get("window_uuid"))
            display = normalise_agent_name(v.text(row, "display_name", 128))
            if display is None:
                raise v.BadValue("display_name is not a valid agent name")
            values = {
                "project_id": project_id,
                "window_uuid": uuid,
                "display_name": display,
                "created_ts": v.timestamp(row, "created_ts"),
                "last_active_ts": v.timestamp(row, "last_active_ts"),
                "expires_ts": v.timestamp(row, "expires_ts", required=False),
            }
        except v.BadValue as exc:
            report.skip("window_identities", str(exc), what)
            continue
        if (project_id, uuid) in plan.target.windows:
            report.skip("window_identities", "the window already has an identity here", what)
            continue
        new_id = take_id(plan, ids, "window_identities", row, what)
        if new_id is None:
            continue
        plan.target.windows.add((project_id, uuid))
        plan.add("window_identities", {"id": new_id, **values})
        report.count("window_identities")


__all__ = ["Plan", "allocators", "map_agents", "map_links", "map_projects", "map_windows", "take_id"]
