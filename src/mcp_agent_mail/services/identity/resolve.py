"""Lookups and shapes shared by every service: projects, agents, result dicts."""

from __future__ import annotations

import difflib
import posixpath
import re
from datetime import datetime

from sqlalchemy import ColumnElement, RowMapping, bindparam, exists, or_, select, update

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, schema
from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.names import looks_like_placeholder, name_key

_PROJECT_PLACEHOLDERS = ("YOUR_PROJECT", "PLACEHOLDER", "<PROJECT>", "{PROJECT}", "$PROJECT")
_SLUG_RUN = re.compile(r"[^a-z0-9]+")
_p, _a = schema.projects, schema.agents
_PROJECT_BY_PATH = select(_p).where(or_(_p.c.human_key == bindparam("key"), _p.c.human_key == bindparam("normalised")))
_PROJECT_BY_SLUG = select(_p).where(_p.c.slug == bindparam("slug"))
_PROJECT_NAMES = select(_p.c.slug, _p.c.human_key)
_AGENT_BY_NAME = select(_a).where(_a.c.project_id == bindparam("project_id"), _a.c.name_key == bindparam("name_key"))
_AGENT_NAMES = select(_a.c.name).where(_a.c.project_id == bindparam("project_id"))
_SHOWN = 3  # suggestions named in a hint


def cut_list(names: list[str], limit: int = _SHOWN) -> str:
    """Join up to ``limit`` names with commas, ending with "…" when some were left out."""
    shown = ", ".join(names[:limit])
    return f"{shown}, …" if len(names) > limit else shown


def slugify(value: str) -> str:
    """Lowercase ``value`` and turn every run of other characters into one ``-``."""
    slug = _SLUG_RUN.sub("-", value.strip().lower()).strip("-")
    return slug or "project"


def normalise_human_key(human_key: str) -> str:
    """Validate an absolute project path and return its normalised form."""
    raw = (human_key or "").strip()
    if not raw:
        raise InvalidArgumentError("human_key is empty.", hint="Pass the absolute path of the repository.")
    if any(p in raw.upper() for p in _PROJECT_PLACEHOLDERS):
        raise ConfigurationError(f"human_key {raw!r} is a placeholder.")
    if "\x00" in raw:
        raise InvalidArgumentError("human_key contains a NUL character.")
    if not raw.startswith("/"):
        raise InvalidArgumentError(
            f"human_key {raw!r} is not an absolute path.",
            hint="Pass the absolute path of the working directory, e.g. /home/me/repo.",
        )
    normalised = posixpath.normpath(raw)
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    if len(normalised) > 1024:
        raise InvalidArgumentError("human_key is longer than 1024 characters.")
    return normalised


def delivered_into(project_id: int) -> ColumnElement[bool]:
    """Return the condition for messages with a recipient (to, cc or bcc) in the project, wherever stored."""
    m = schema.messages
    r = schema.message_recipients.alias("delivered_recipient")
    ra = schema.agents.alias("delivered_agent")
    return exists().where(r.c.message_id == m.c.id, ra.c.id == r.c.agent_id, ra.c.project_id == project_id)


def in_project_scope(project_id: int) -> ColumnElement[bool]:
    """Return the condition for a project's mail: stored in it, or delivered into it from elsewhere."""
    return or_(schema.messages.c.project_id == project_id, delivered_into(project_id))


async def resolve_project(session: ReadTransaction, project_key: str) -> RowMapping:
    """Find a project by human key (absolute path) or slug, or raise NOT_FOUND with suggestions."""
    raw = (project_key or "").strip()
    if not raw:
        raise InvalidArgumentError("project_key is empty.", hint="Pass the project's absolute path or slug.")
    if any(p in raw.upper() for p in _PROJECT_PLACEHOLDERS):
        raise ConfigurationError(f"project_key {raw!r} is a placeholder.")
    normalised = posixpath.normpath(raw) if raw.startswith("/") else raw
    found = await session.execute(_PROJECT_BY_PATH, {"key": raw, "normalised": normalised})
    row = found.mappings().first()
    if row is None:
        row = (await session.execute(_PROJECT_BY_SLUG, {"slug": raw.lower()})).mappings().first()
    if row is None and not raw.startswith("/"):
        row = (await session.execute(_PROJECT_BY_SLUG, {"slug": slugify(raw)})).mappings().first()
    if row is None:
        slugs = list((await session.execute(_PROJECT_NAMES)).all())
        close = difflib.get_close_matches(slugify(raw), [s for s, _ in slugs], n=_SHOWN + 1, cutoff=0.4)
        hint = (
            f"Did you mean {cut_list(close)}?"
            if close
            else "Call ensure_project with the repository's absolute path first."
        )
        raise NotFoundError(f"Project {raw!r} not found.", hint=hint, data={"suggestions": close[:_SHOWN]})
    return row


async def find_agent(session: ReadTransaction, project_id: int, name: str) -> RowMapping | None:
    """Return the agent of a project with this name (case and punctuation insensitive), or None."""
    result = await session.execute(_AGENT_BY_NAME, {"project_id": project_id, "name_key": name_key(name)})
    return result.mappings().first()


async def get_agent(
    session: ReadTransaction, project: RowMapping, name: str, *, field: str = "agent_name"
) -> RowMapping:
    """Return the named agent of ``project`` or raise NOT_FOUND listing similar names."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidArgumentError(f"{field} is empty.", hint="Pass the agent's name, e.g. GreenCastle.")
    if looks_like_placeholder(cleaned):
        raise ConfigurationError(f"{field} {cleaned!r} is a placeholder.")
    row = await find_agent(session, project["id"], cleaned)
    if row is not None:
        return row
    names = list((await session.execute(_AGENT_NAMES, {"project_id": project["id"]})).scalars())
    close = difflib.get_close_matches(cleaned, names, n=_SHOWN + 1, cutoff=0.4)
    if close:
        hint = f"Did you mean {cut_list(close)}?"
    elif names:
        hint = f"Agents in this project: {cut_list(sorted(names), 5)}."
    else:
        hint = "The project has no agents yet; call register_agent or create_agent_identity."
    raise NotFoundError(
        f"Agent {cleaned!r} not found in project {project['slug']!r}.", hint=hint, data={"suggestions": close[:_SHOWN]}
    )


_TOUCH_AGENT = (
    update(schema.agents)
    .where(schema.agents.c.id == bindparam("touched_id"))
    .values(last_active_ts=bindparam("touched_ts"))
)


async def touch_agent(session: WriteTransaction, project_id: int, agent_id: int, now: datetime) -> None:
    """Set the agent's last_active_ts to ``now`` and queue its profile for the archive in the same transaction."""
    await session.execute(_TOUCH_AGENT, {"touched_id": agent_id, "touched_ts": now})
    await archive.enqueue(session, project_id, "agent", agent_id)


def check_limit(value: int, *, field: str = "limit", maximum: int = 1000) -> int:
    """Validate a positive result limit (1..maximum)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > maximum:
        raise InvalidArgumentError(f"{field} must be an integer from 1 to {maximum}; got {value!r}.")
    return value
