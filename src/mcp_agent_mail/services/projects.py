"""Projects: one per repository, keyed by its absolute path."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from mcp_agent_mail import archive
from mcp_agent_mail.db import get_session, schema, write_session
from mcp_agent_mail.db.shapes import project_dict
from mcp_agent_mail.services.common import normalise_human_key, resolve_project, slugify
from mcp_agent_mail.timeutil import utcnow

_MAX_SLUG = 64


def _base_slug(human_key: str) -> str:
    slug = slugify(human_key)
    if len(slug) > _MAX_SLUG:
        digest = hashlib.sha1(human_key.encode()).hexdigest()[:8]
        slug = slug[: _MAX_SLUG - 9].rstrip("-") + "-" + digest
    return slug


async def ensure_project(human_key: str) -> dict[str, Any]:
    """Return the project for an absolute path, creating it (and its archive folder) if new."""
    key = normalise_human_key(human_key)
    p = schema.projects
    async with get_session() as session:
        row = (await session.execute(select(p).where(p.c.human_key == key))).mappings().first()
    if row is not None:
        return project_dict(row)
    async with write_session() as session:
        row = (await session.execute(select(p).where(p.c.human_key == key))).mappings().first()
        if row is None:
            slug = _base_slug(key)
            taken = (await session.execute(select(p.c.id).where(p.c.slug == slug))).first()
            if taken is not None:
                # Another path already slugifies the same way: keep both projects apart.
                slug = f"{slug[: _MAX_SLUG - 9]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
            project_id = (
                await session.execute(
                    p.insert().values(slug=slug, human_key=key, created_at=utcnow()).returning(p.c.id)
                )
            ).scalar_one()
            await archive.enqueue(session, project_id, "project", project_id)
            row = (await session.execute(select(p).where(p.c.id == project_id))).mappings().one()
    archive.wake_writer()
    return project_dict(row)


async def get_project(project_key: str) -> dict[str, Any]:
    """Return one project by absolute path or slug."""
    async with get_session() as session:
        return project_dict(await resolve_project(session, project_key))


async def list_projects() -> list[dict[str, Any]]:
    """Return every project, oldest first."""
    async with get_session() as session:
        rows = (await session.execute(select(schema.projects).order_by(schema.projects.c.id))).mappings()
        return [project_dict(r) for r in rows]
