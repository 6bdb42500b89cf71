"""Workflow macros: macro_start_session, macro_prepare_thread, macro_file_reservation_cycle."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.services import macros
from mcp_agent_mail.tools._adapter import agent_mail_tool, current_session_key

ProjectKey = Annotated[str, Field(description="Absolute path of the repository (or the project slug).")]
Program = Annotated[str, Field(description="Client program, e.g. claude-code or codex.")]
Model = Annotated[str, Field(description="Model name, e.g. opus-4.")]
OptionalName = Annotated[
    str | None,
    Field(description="Your agent name (GreenCastle or an id like worker-1); omit to get a new generated one."),
]
Task = Annotated[str, Field(description="What you are working on (kept unchanged when empty).")]
InboxLimit = Annotated[int, Field(description="How many recent inbox messages to include (1-1000).")]
Token = Annotated[
    str | None,
    Field(description="Your registration_token, to prove you are an existing agent (required in strict mode)."),
]


def register(mcp: FastMCP) -> None:
    """Add the workflow macros to ``mcp``."""

    @agent_mail_tool(mcp, read_only=False)
    async def macro_start_session(
        human_key: Annotated[str, Field(description="Absolute path of the repository working directory.")],
        program: Program,
        model: Model,
        agent_name: OptionalName = None,
        task_description: Task = "",
        file_reservation_paths: Annotated[
            list[str] | None, Field(description="Paths or globs to reserve exclusively right away; omit for none.")
        ] = None,
        file_reservation_reason: Annotated[str, Field(description="Reason shown on those reservations.")] = (
            "macro-session"
        ),
        file_reservation_ttl_seconds: Annotated[int, Field(description="Lease length in seconds.")] = 3600,
        inbox_limit: InboxLimit = 10,
        registration_token: Token = None,
    ) -> dict[str, Any]:
        """Start working in a repository in one call: ensure the project, register (or re-register) you, reserve
        files, and show your latest mail.

        Use it first thing in a session instead of ensure_project + register_agent + file_reservation_paths +
        fetch_inbox. Every argument is checked before anything is written. A new agent gets its
        registration_token (shown only once; keep it). Reservation conflicts are reported, not raised: message
        the holders or pick other files. Next: read messages with fetch_inbox/mark_message_read, write with
        send_message. Returns {project, agent, registration_token?, verified, file_reservations: {granted,
        conflicts}, inbox: [...]}.
        """
        return await macros.start_session(
            human_key, program, model, agent_name, task_description, file_reservation_paths,
            file_reservation_reason, file_reservation_ttl_seconds, inbox_limit,
            registration_token=registration_token, session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False, open_world=True)  # llm_mode may call the configured LLM endpoint
    async def macro_prepare_thread(
        project_key: ProjectKey,
        thread_id: Annotated[str, Field(description="The thread to join, e.g. FEAT-123 or a message id.")],
        program: Program,
        model: Model,
        agent_name: OptionalName = None,
        task_description: Task = "",
        register_if_missing: Annotated[
            bool, Field(description="Register (or re-register) the agent first; false requires agent_name.")
        ] = True,
        include_examples: Annotated[bool, Field(description="Include the latest messages as examples.")] = True,
        inbox_limit: InboxLimit = 10,
        include_inbox_bodies: Annotated[bool, Field(description="Include message bodies in the inbox.")] = False,
        llm_mode: Annotated[
            bool, Field(description="Ask the configured LLM to refine the summary (falls back to the plain one).")
        ] = False,
        llm_model: Annotated[str | None, Field(description="LLM model override for llm_mode.")] = None,
        registration_token: Token = None,
    ) -> dict[str, Any]:
        """Get ready to take part in an existing thread: identify or register you, summarise the thread as you can
        see it, and show your inbox.

        The project must already exist (ensure_project or macro_start_session). The thread summary only covers
        messages you sent or received. Next: reply_message to a message of the thread, or send_message with this
        thread_id. Returns {project, agent, registration_token?, verified, thread: {thread_id, summary, examples,
        total_messages}, inbox: [...]}.
        """
        return await macros.prepare_thread(
            project_key, thread_id, program, model, agent_name, task_description, register_if_missing,
            include_examples, inbox_limit, include_inbox_bodies, llm_mode=llm_mode, llm_model=llm_model,
            registration_token=registration_token, session_key=current_session_key(),
        )

    @agent_mail_tool(mcp, read_only=False, acts_as="agent_name")
    async def macro_file_reservation_cycle(
        project_key: ProjectKey,
        agent_name: Annotated[str, Field(description="Your agent name, e.g. GreenCastle.")],
        paths: Annotated[list[str], Field(description="Paths or globs relative to the repo root (1-100).")],
        ttl_seconds: Annotated[int, Field(description="Lease length in seconds.")] = 3600,
        exclusive: Annotated[bool, Field(description="True to keep others out; False for a shared lease.")] = True,
        reason: Annotated[str, Field(description="Why you need these files.")] = "macro-file_reservation",
        auto_release: Annotated[
            bool, Field(description="Release what was granted right away (a quick check-and-claim).")
        ] = False,
    ) -> dict[str, Any]:
        """Reserve files and, with auto_release, release them again in the same call.

        Use auto_release to check whether paths are free and briefly mark them, e.g. around a quick edit;
        otherwise it is file_reservation_paths with a macro reason, and you release later with
        release_file_reservations. Conflicts are reported under file_reservations.conflicts with their holders.
        Returns {file_reservations: {granted, conflicts}, released: null | {released, released_at}}.
        """
        return await macros.file_reservation_cycle(
            project_key, agent_name, paths, ttl_seconds, exclusive, reason, auto_release
        )
