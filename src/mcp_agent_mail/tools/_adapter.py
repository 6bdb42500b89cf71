"""Registering tools: annotations, and turning AgentMailError into coded MCP errors."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

from mcp_agent_mail.errors import AgentMailError

logger = logging.getLogger("mcp_agent_mail.tools")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def agent_mail_tool(
    mcp: FastMCP,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    title: str | None = None,
    acts_as: str | None = None,
    token_param: str = "registration_token",
) -> Callable[[F], F]:
    """Register an async function as a tool whose errors reach clients as ``CODE: message Hint: ...``.

    ``acts_as`` names the parameter holding the agent the caller acts as (e.g. ``sender_name``);
    ``token_param`` names the parameter a client may use to prove it is that agent.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except AgentMailError as exc:
                raise ToolError(exc.render(), log_level=logging.INFO) from exc
            except ToolError:
                raise
            except Exception as exc:
                logger.exception("tool %s failed", fn.__name__)
                raise ToolError(
                    f"INTERNAL_ERROR: {type(exc).__name__}: {exc}. "
                    "Hint: nothing was changed unless the result said so; retry, and if it persists run "
                    "`mcp-agent-mail doctor check`."
                ) from exc

        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        )
        mcp.tool(annotations=annotations)(wrapper)
        return fn

    return decorate
