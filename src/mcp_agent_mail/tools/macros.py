"""Workflow macros: macro_start_session, macro_prepare_thread, macro_file_reservation_cycle."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import macros
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool, current_session_key
from mcp_agent_mail.tools.params import HumanKey, Me, Model, Paths, Program, ProjectKey, Task, TtlSeconds

OptionalName = Annotated[str | None, Field(description="Omit for a new name.")]
InboxLimit = int
Token = str | None


def register(mcp: FastMCP) -> None:
    """Add the workflow macros to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False, output=out.START_SESSION)
    async def macro_start_session(
        human_key: HumanKey,
        program: Program,
        model: Model,
        agent_name: OptionalName = None,
        task_description: Task = "",
        file_reservation_paths: list[str] | None = None,
        file_reservation_reason: str | None = None,
        file_reservation_ttl_seconds: TtlSeconds = 3600,
        inbox_limit: InboxLimit = 10,
        registration_token: Token = None,
    ) -> dict[str, Any]:
        """ensure_project + register_agent (keep the registration_token returned once) + file_reservation_paths
        + fetch_inbox in one call."""
        return await macros.start_session(
            human_key,
            program,
            model,
            agent_name,
            task_description,
            file_reservation_paths,
            file_reservation_reason or "macro-session",
            file_reservation_ttl_seconds,
            inbox_limit,
            registration_token=registration_token,
            session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False, open_world=True, output=out.PREPARE_THREAD)
    async def macro_prepare_thread(
        project_key: ProjectKey,
        thread_id: Annotated[str, Field(description="e.g. FEAT-12 or a message id.")],
        program: Program,
        model: Model,
        agent_name: OptionalName = None,
        task_description: Task = "",
        register_if_missing: bool = True,
        include_examples: Annotated[bool, Field(description="Add latest messages as examples.")] = True,
        inbox_limit: InboxLimit = 10,
        include_inbox_bodies: bool = False,
        llm_mode: Annotated[bool, Field(description="Refine with the LLM.")] = False,
        llm_model: str | None = None,
        registration_token: Token = None,
    ) -> dict[str, Any]:
        """Join a thread: register or identify you, summarise what you see of it, show your inbox. Next:
        reply_message."""
        return await macros.prepare_thread(
            project_key,
            thread_id,
            program,
            model,
            agent_name,
            task_description,
            register_if_missing,
            include_examples,
            inbox_limit,
            include_inbox_bodies,
            llm_mode=llm_mode,
            llm_model=llm_model,
            registration_token=registration_token,
            session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False, acts_as="agent_name", output=out.RESERVATION_CYCLE)
    async def macro_file_reservation_cycle(
        project_key: ProjectKey,
        agent_name: Me,
        paths: Paths,
        ttl_seconds: TtlSeconds = 3600,
        exclusive: Annotated[bool, Field(description="False for a shared lease.")] = True,
        reason: Annotated[str, Field(description="Shown to others.")] = "macro-file_reservation",
        auto_release: Annotated[bool, Field(description="Release what was granted at once.")] = False,
    ) -> dict[str, Any]:
        """file_reservation_paths, and with auto_release an immediate release: a quick check that paths are
        free."""
        return await macros.file_reservation_cycle(
            project_key, agent_name, paths, ttl_seconds, exclusive, reason, auto_release
        )
