"""Projects: one per repository, keyed by its absolute path."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import RowMapping, bindparam, select

from mcp_agent_mail import archive
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.db.shapes import project_dict
from mcp_agent_mail.services.identity.resolve import normalise_human_key, resolve_project, slugify
from mcp_agent_mail.timeutil import utcnow

_MAX_SLUG = 64


def _base_slug(human_key: str) -> str:
    slug = slugify(human_key)
    if len(slug) > _MAX_SLUG:
        digest = hashlib.sha1(human_key.encode()).hexdigest()[:8]
        slug = slug[: _MAX_SLUG - 9].rstrip("-") + "-" + digest
    return slug


_p = schema.projects
_BY_HUMAN_KEY = select(_p).where(_p.c.human_key == bindparam("key"))
_SLUG_TAKEN = select(_p.c.id).where(_p.c.slug == bindparam("slug"))
_INSERT_PROJECT = _p.insert().returning(*_p.c)
_ALL_PROJECTS = select(_p).order_by(_p.c.id)


async def ensure_project(human_key: str) -> dict[str, Any]:
    """Return the project for an absolute path, creating it (and its archive folder) if new."""
    key = normalise_human_key(human_key)

    async def read(session: ReadTransaction) -> RowMapping | None:
        return (await session.execute(_BY_HUMAN_KEY, {"key": key})).mappings().first()

    row = await run_read(read)
    if row is not None:
        return project_dict(row)

    async def unit(session: WriteTransaction) -> RowMapping:
        found = (await session.execute(_BY_HUMAN_KEY, {"key": key})).mappings().first()
        if found is not None:
            return found
        slug = _base_slug(key)
        if (await session.execute(_SLUG_TAKEN, {"slug": slug})).first() is not None:
            # Another path already slugifies the same way: keep both projects apart.
            slug = f"{slug[: _MAX_SLUG - 9]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        values = {"slug": slug, "human_key": key, "created_at": utcnow()}
        created = (await session.execute(_INSERT_PROJECT, values)).mappings().one()
        await archive.enqueue(session, created["id"], "project", created["id"])
        return created

    row = await run_write(unit)
    archive.wake_writer()
    return project_dict(row)


async def get_project(project_key: str) -> dict[str, Any]:
    """Return one project by absolute path or slug."""

    async def read(session: ReadTransaction) -> RowMapping:
        return await resolve_project(session, project_key)

    return project_dict(await run_read(read))


async def list_projects() -> list[dict[str, Any]]:
    """Return every project, oldest first."""

    async def read(session: ReadTransaction) -> list[RowMapping]:
        return list((await session.execute(_ALL_PROJECTS)).mappings())

    return [project_dict(r) for r in await run_read(read)]
