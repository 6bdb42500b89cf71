"""Registering tools: annotations, identity checks, and turning AgentMailError into coded MCP errors."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services import auth

logger = logging.getLogger("mcp_agent_mail.tools")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def current_session_key() -> str | None:
    """Return a key for the calling MCP session, or None when the connection has no session.

    stdio serves one client per process, so the process is the session. Handshake-era
    connections (HTTP ``mcp-session-id``, in-memory) keep one id for their lifetime.
    Stateless 2026-07-28 connections get a fresh id per request, so they have none.
    """
    try:
        from fastmcp.server.dependencies import get_context

        ctx = get_context()
        if ctx.transport == "stdio":
            return "stdio"
        request = ctx.request_context
        if request is None or request.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        return f"session:{ctx.session_id}"
    except RuntimeError:
        return None


def _token_annotation(token_param: str, project_admin: bool) -> Any:
    if project_admin:
        text = (
            "Registration token of any agent of this project (returned once by register_agent or "
            "create_agent_identity); required when the server runs with AGENT_IDENTITY_MODE=strict."
        )
    else:
        text = (
            "Your registration_token (returned once by register_agent or create_agent_identity) proving you are "
            "this agent; required with AGENT_IDENTITY_MODE=strict unless this MCP session registered you."
        )
    return Annotated[str | None, Field(description=text)]


def _expose_token_param(wrapper: Any, fn: Callable[..., Any], token_param: str, project_admin: bool) -> bool:
    """Add ``token_param`` to the wrapper's signature when ``fn`` lacks it; return True when added."""
    sig = inspect.signature(fn)
    if token_param in sig.parameters:
        return False
    param = inspect.Parameter(
        token_param,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=_token_annotation(token_param, project_admin),
    )
    params = list(sig.parameters.values())
    tail = [p for p in params if p.kind == inspect.Parameter.VAR_KEYWORD]
    head = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD]
    wrapper.__signature__ = sig.replace(parameters=[*head, param, *tail])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), token_param: param.annotation}
    return True


async def _check_identity(
    kwargs: dict[str, Any],
    *,
    name: str,
    acts_as: str | None,
    token_param: str,
    project_admin: bool,
    token: str | None,
    session_key: str | None,
) -> auth.Proof:
    project_key = kwargs.get("project_key")
    action = f"Calling {name}"
    if project_admin:
        return await auth.authorize_project(project_key, token, session_key, action=action, token_param=token_param)
    assert acts_as is not None
    agent_name = kwargs.get(acts_as)
    proof = await auth.authorize_agent(
        project_key, agent_name if isinstance(agent_name, str) else None, token, session_key,
        action=action, token_param=token_param,
    )
    if not agent_name and proof.agent_name:
        kwargs[acts_as] = proof.agent_name
    return proof


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
    project_admin: bool = False,
) -> Callable[[F], F]:
    """Register an async function as a tool whose errors reach clients as ``CODE: message Hint: ...``.

    ``acts_as`` names the parameter holding the agent the caller acts as (e.g. ``sender_name``);
    ``token_param`` names the parameter a client may use to prove it is that agent. The tool
    then gets that optional parameter in its schema (even if ``fn`` does not take it), the caller
    is checked by :mod:`mcp_agent_mail.services.auth` before ``fn`` runs, and a dict result gains
    ``verified`` (``verified_sender`` for senders). ``project_admin`` checks instead that the caller
    speaks for the project (a token of any of its agents). A result carrying a fresh
    ``registration_token`` binds the calling session to that agent.
    """
    checks_identity = acts_as is not None or project_admin
    verified_key = "verified_sender" if acts_as == "sender_name" else "verified"

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                session_key = current_session_key()
                proof = None
                if checks_identity:
                    token = kwargs.pop(token_param, None) if pops_token else kwargs.get(token_param)
                    proof = await _check_identity(
                        kwargs, name=fn.__name__, acts_as=acts_as, token_param=token_param,
                        project_admin=project_admin, token=token, session_key=session_key,
                    )
                result = await fn(*args, **kwargs)
                auth.bind_from_result(session_key, result)
                if proof is not None and isinstance(result, dict):
                    result[verified_key] = proof.verified
                return result
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

        pops_token = checks_identity and _expose_token_param(wrapper, fn, token_param, project_admin)
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
