"""Who reads a message or a thread: the agent named, the one its token proves, or the one the session is bound to."""

from __future__ import annotations

from sqlalchemy import RowMapping, bindparam, select

from mcp_agent_mail.db import ReadTransaction, run_read, schema
from mcp_agent_mail.services.identity import auth
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project

ProjectAndAgent = tuple[RowMapping, RowMapping]
"""A project row and the row of the agent reading in it."""

ProjectAndViewer = tuple[RowMapping, RowMapping | None]
"""A project row and the row of the agent reading in it, or None when nobody says who reads."""

_AGENT_BY_ID = select(schema.agents).where(schema.agents.c.id == bindparam("agent_id"))


async def find_reader(
    project_key: str, agent_name: str | None, agent_token: str | None, session_key: str | None, *, action: str
) -> ProjectAndViewer:
    """Return the project and the agent reading on the caller's behalf, or None for the agent when nobody says.

    The caller must be allowed to act as that agent (a token, or a bound session; required in strict
    mode). An agent named but not found is NOT_FOUND; with no name and no token the agent is the one
    the session is bound to in this project, when there is exactly one.
    """
    named = agent_name.strip() if agent_name and agent_name.strip() else None
    proof = await auth.authorize_agent(
        project_key, named, agent_token, session_key, action=action, token_param="agent_token"
    )

    async def read(session: ReadTransaction) -> ProjectAndViewer:
        project = await resolve_project(session, project_key)
        name = named or proof.agent_name
        if name:
            return project, await get_agent(session, project, name, field="agent")
        bound = auth.BINDINGS.agents_in(session_key, project["id"])
        if len(bound) != 1:
            return project, None
        row = (await session.execute(_AGENT_BY_ID, {"agent_id": bound[0]})).mappings().first()
        return project, row

    return await run_read(read)
