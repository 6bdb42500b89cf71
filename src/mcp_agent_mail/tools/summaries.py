"""Tools for reading mail in bulk: summarize_thread, summarize_recent, fetch_summary, fetch_topic."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services import summaries, topics
from mcp_agent_mail.tools._adapter import agent_mail_tool

ProjectKey = Annotated[str, Field(description="Absolute path of the repository (or the project slug).")]
Viewer = Annotated[
    str | None,
    Field(description="Your agent name: only mail you sent or received is read. Omit to read the whole project."),
]
LlmMode = Annotated[
    bool, Field(description="Let the configured language model refine the summary (needs LLM_ENABLED on the server).")
]
LlmModel = Annotated[str | None, Field(description="Model name for llm_mode; default is the server's LLM_MODEL.")]
Hours = Annotated[float, Field(description="Look-back window in hours (more than 0, at most 8760).")]


def register(mcp: FastMCP) -> None:
    """Add the summary and topic tools to ``mcp``."""

    @agent_mail_tool(mcp, read_only=True, idempotent=True, open_world=True, acts_as="agent_name")
    async def summarize_thread(
        project_key: ProjectKey,
        thread_id: Annotated[
            str, Field(description="Thread id (e.g. FEAT-12 or a message id); several separated by commas.")
        ],
        include_examples: Annotated[bool, Field(description="Add the first 3 messages {id, subject, from}.")] = False,
        llm_mode: LlmMode = False,
        llm_model: LlmModel = None,
        per_thread_limit: Annotated[
            int, Field(description="Most recent messages read per thread (1-1000).")
        ] = 50,
        agent_name: Viewer = None,
    ) -> dict[str, Any]:
        """Summarise a thread before joining or reviewing it: participants, key points, decisions, action items
        (checkboxes, TODOs, "@Name please …" with assignee), done items, open questions, mentioned files and
        @mentions, each citing message ids in refs. One id → {thread_id, summary}; comma-separated ids →
        {threads, aggregate}. Read the cited messages with fetch_inbox or search_messages; reply with reply_message.
        """
        return await summaries.summarize_thread(
            project_key, thread_id, include_examples, llm_mode, llm_model, per_thread_limit, agent_name
        )

    @agent_mail_tool(mcp, read_only=False, open_world=True, acts_as="agent_name")
    async def summarize_recent(
        project_key: ProjectKey,
        since_hours: Hours = 24.0,
        max_messages: Annotated[
            int, Field(description="At most this many messages, the most recent ones (1-1000).")
        ] = 500,
        agent_name: Viewer = None,
        llm_mode: LlmMode = False,
        llm_model: LlmModel = None,
    ) -> dict[str, Any]:
        """Catch up on a project: summarise the messages of the last since_hours across all threads (same
        summary fields as summarize_thread, plus total_threads) and store it. Returns {id, summary, start_ts,
        end_ts, source_message_count, source_thread_ids}. List stored summaries later with fetch_summary.
        """
        return await summaries.summarize_recent(
            project_key, since_hours, max_messages, agent_name, llm_mode, llm_model
        )

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name")
    async def fetch_summary(
        project_key: ProjectKey,
        since_hours: Hours = 24.0,
        limit: Annotated[int, Field(description="Maximum number of summaries (1-1000).")] = 5,
        agent_name: Annotated[
            str | None,
            Field(description="List the summaries made for this agent; omit for project-wide summaries."),
        ] = None,
    ) -> list[dict[str, Any]]:
        """List summaries stored by summarize_recent whose window ended within since_hours, newest first, in the
        same scope they were made for (your own with agent_name, project-wide without)."""
        return await summaries.fetch_summary(project_key, since_hours, limit, agent_name)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name")
    async def fetch_topic(
        project_key: ProjectKey,
        topic_name: Annotated[
            str | None, Field(description="Topic label given at send time, e.g. build-status (any case).")
        ] = None,
        limit: Annotated[int, Field(description="Maximum number of messages (1-1000).")] = 50,
        agent_name: Viewer = None,
        include_bodies: Annotated[bool, Field(description="Include each message's body_md.")] = True,
        since_ts: Annotated[str | None, Field(description="Only messages created after this ISO-8601 time.")] = None,
        topic: Annotated[str | None, Field(description="Same as topic_name.")] = None,
    ) -> list[dict[str, Any]]:
        """List the messages labelled with a topic (send_message's topic), newest first, to follow a stream such
        as build-status across threads. Each item has id, from, subject, thread_id, importance and created_ts."""
        if topic_name is not None and topic is not None and topic_name.strip().lower() != topic.strip().lower():
            raise InvalidArgumentError(
                "topic_name and topic differ.", hint="Pass the topic once, as topic_name."
            )
        return await topics.fetch_topic(
            project_key, topic_name if topic_name is not None else topic or "", limit, agent_name,
            include_bodies, since_ts,
        )
