"""Tools for reading mail in bulk: summarize_thread, summarize_recent, fetch_summary, fetch_topic."""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.mail import topics
from mcp_agent_mail.services.summaries import summarize as summaries
from mcp_agent_mail.tools import outputs as out
from mcp_agent_mail.tools._adapter import agent_mail_tool
from mcp_agent_mail.tools.params import Bodies, Limit, ProjectKey, SinceTs

Viewer = Annotated[str | None, Field(description="Yours only; omit for all mail.")]
LlmMode = Annotated[bool, Field(description="Refine with the LLM.")]
LlmModel = str | None
Hours = Annotated[float, Field(description="Look-back, max 8760.")]


def register(mcp: FastMCP) -> None:
    """Add the summary and topic tools to ``mcp``."""

    @agent_mail_tool(
        mcp, read_only=True, idempotent=True, open_world=True, acts_as="agent_name", output=out.THREAD_SUMMARY
    )
    async def summarize_thread(
        project_key: ProjectKey,
        thread_id: Annotated[str, Field(description="Thread id(s), comma-separated.")],
        include_examples: Annotated[bool, Field(description="Add the first 3 messages.")] = False,
        llm_mode: LlmMode = False,
        llm_model: LlmModel = None,
        per_thread_limit: Annotated[int, Field(description="Latest messages read per thread.")] = 50,
        agent_name: Viewer = None,
    ) -> dict[str, Any]:
        """Summarise threads: participants, key points, decisions, action items, open questions, files,
        with message ids."""
        return await summaries.summarize_thread(
            project_key, thread_id, include_examples, llm_mode, llm_model, per_thread_limit, agent_name
        )

    @agent_mail_tool(mcp, read_only=False, open_world=True, acts_as="agent_name", output=out.RECENT_SUMMARY)
    async def summarize_recent(
        project_key: ProjectKey,
        since_hours: Hours = 24.0,
        max_messages: Annotated[int, Field(description="Latest read, 1-1000.")] = 500,
        agent_name: Viewer = None,
        llm_mode: LlmMode = False,
        llm_model: LlmModel = None,
    ) -> dict[str, Any]:
        """Catch up: summarise the last since_hours of mail across threads, and store it for fetch_summary."""
        return await summaries.summarize_recent(project_key, since_hours, max_messages, agent_name, llm_mode, llm_model)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name", listing=True, output=out.SUMMARIES)
    async def fetch_summary(
        project_key: ProjectKey,
        since_hours: Hours = 24.0,
        limit: Limit = 5,
        agent_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Summaries stored by summarize_recent in the last since_hours, newest first (yours with agent_name,
        else project-wide)."""
        return await summaries.fetch_summary(project_key, since_hours, limit, agent_name)

    @agent_mail_tool(mcp, read_only=True, idempotent=True, acts_as="agent_name", listing=True, output=out.TOPIC)
    async def fetch_topic(
        project_key: ProjectKey,
        topic_name: Annotated[str | None, Field(description="Topic given at send time, e.g. build-status.")] = None,
        limit: Limit = 50,
        agent_name: Viewer = None,
        include_bodies: Bodies = False,
        since_ts: SinceTs = None,
        topic: Annotated[str | None, Field(description="Alias of topic_name.")] = None,
    ) -> list[dict[str, Any]]:
        """List the messages with a topic (set by send_message), newest first, across threads."""
        if topic_name is not None and topic is not None and topic_name.strip().lower() != topic.strip().lower():
            raise InvalidArgumentError("topic_name and topic differ.", hint="Pass the topic once, as topic_name.")
        return await topics.fetch_topic(
            project_key,
            topic_name if topic_name is not None else topic or "",
            limit,
            agent_name,
            include_bodies,
            since_ts,
        )
