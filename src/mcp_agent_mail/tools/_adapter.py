"""Registering tools: annotations, identity checks, and turning AgentMailError into coded MCP errors."""

from __future__ import annotations

import functools
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.tools.base import ToolResult
from fastmcp.tools.function_tool import FunctionTool
from fastmcp.utilities.types import NotSet
from mcp.types import Tool as MCPTool
from mcp.types import ToolAnnotations
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError
from mcp_agent_mail.services.database import database_error
from mcp_agent_mail.services.identity import auth
from mcp_agent_mail.services.identity.project_agent import remembered
from mcp_agent_mail.text_guard import find_invalid_text, invalid_text_error
from mcp_agent_mail.tools.formatting import FormatParam, normalise_format, prune, table_result
from mcp_agent_mail.tools.schemas import lean_input_schema
from mcp_agent_mail.tools.validation import invalid_arguments

logger = logging.getLogger("mcp_agent_mail.tools")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_REGISTERED: weakref.WeakKeyDictionary[FastMCP, list[str]] = weakref.WeakKeyDictionary()

# Every name the original project gave the caller's own token on some tool. A tool accepts each
# of them (unpublished) for the token parameter it publishes.
CALLER_TOKEN_NAMES = ("registration_token", "sender_token", "requester_registration_token")


def registered_tools(mcp: FastMCP) -> list[str]:
    """Return the names of the tools registered on ``mcp`` with :func:`agent_mail_tool`, in order."""
    return list(_REGISTERED.get(mcp, []))


def current_session_key() -> str | None:
    """Return a key for the calling MCP session, or None when the connection has no session.

    stdio serves one client per process, so the process is the session. Handshake-era
    connections (HTTP ``mcp-session-id``, in-memory) keep one id for their lifetime.
    Stateless 2026-07-28 connections, and HTTP requests without an ``mcp-session-id``
    (the server's default stateless mode), get a fresh id per request, so they have none.
    """
    try:
        from fastmcp.server.dependencies import get_context

        ctx = get_context()
        if ctx.transport == "stdio":
            return "stdio"
        request = ctx.request_context
        if request is None or request.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        http_request = getattr(request, "request", None)
        if http_request is not None and not http_request.headers.get("mcp-session-id"):
            return None  # stateless HTTP: every POST is a new session, so none can remember who registered
        return f"session:{ctx.session_id}"
    except RuntimeError:
        return None


def _token_annotation(token_param: str, project_admin: bool) -> Any:
    if project_admin:
        return Annotated[str | None, Field(description="Any project agent's token.")]
    if token_param == "registration_token":
        return str | None
    return Annotated[str | None, Field(description="Your token.")]


def _aliases(schema: dict[str, Any], token_param: str, explicit: dict[str, str]) -> dict[str, str]:
    """Return the unpublished names a tool accepts: ``explicit`` plus the other spellings of its token."""
    published = schema.get("properties", {})
    own = next((name for name in (token_param, "registration_token") if name in published), None)
    found = {name: own for name in CALLER_TOKEN_NAMES if own is not None and name not in published}
    found.update({alias: name for alias, name in explicit.items() if alias not in published})
    return found


def _expose_params(wrapper: Any, fn: Callable[..., Any], extra: dict[str, Any]) -> set[str]:
    """Add the keyword parameters ``extra`` (name -> (annotation, default)) that ``fn`` lacks to the
    wrapper's signature; return the names added."""
    sig = inspect.signature(fn)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in extra.items()
        if name not in sig.parameters
    ]
    params = list(sig.parameters.values())
    tail = [p for p in params if p.kind == inspect.Parameter.VAR_KEYWORD]
    head = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD]
    wrapper.__signature__ = sig.replace(parameters=[*head, *added, *tail])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), **{p.name: p.annotation for p in added}}
    return {p.name for p in added}


def apply_aliases(aliases: dict[str, str], arguments: dict[str, Any]) -> dict[str, Any]:
    """Return ``arguments`` with each alias renamed to its parameter; INVALID_ARGUMENT if both differ."""
    if not any(alias in arguments for alias in aliases):
        return arguments
    renamed = dict(arguments)
    for alias, name in aliases.items():
        if alias not in renamed:
            continue
        value = renamed.pop(alias)
        if value is None:
            continue
        current = renamed.get(name)
        if current is not None and current != value:
            raise InvalidArgumentError(
                f"{alias} and {name} are the same parameter but were given different values.",
                hint=f"Pass only {name}.",
            )
        renamed[name] = value
    return renamed


class LeanTool(FunctionTool):
    """A function tool listed without a display title and without fastmcp's ``_meta`` (empty tags), whose
    argument errors reach clients as INVALID_ARGUMENT naming the parameter.

    Title and ``_meta`` are optional in MCP; a client shows the tool name instead of the title.
    ``aliases`` maps unpublished parameter names (the original project's spellings) to the
    parameters they stand for; they are renamed before validation.
    """

    aliases: dict[str, str] = Field(default_factory=dict, exclude=True)

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        """Refuse text that is not valid Unicode, rename aliases, validate the arguments, then run the tool."""
        found = find_invalid_text(arguments)
        if found is not None:
            raise ToolError(invalid_text_error(found).render(), log_level=logging.INFO)
        try:
            arguments = apply_aliases(self.aliases, arguments)
        except AgentMailError as exc:
            raise ToolError(exc.render(), log_level=logging.INFO) from exc
        try:
            return await super().run(arguments)
        except ValidationError as exc:
            cause = exc.__cause__
            if not isinstance(cause, PydanticValidationError):
                raise
            error = invalid_arguments(self.name, self.parameters, arguments, cause)
            raise ToolError(error.render(), log_level=logging.INFO) from exc

    def to_mcp_tool(self, **overrides: Any) -> MCPTool:
        """Return the MCP definition of this tool without ``title`` and ``_meta``."""
        overrides.setdefault("_meta", None)
        overrides.setdefault("title", self.title)
        return super().to_mcp_tool(**overrides)


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
        project_key,
        agent_name if isinstance(agent_name, str) else None,
        token,
        session_key,
        action=action,
        token_param=token_param,
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
    output: dict[str, Any] | None = None,
    listing: bool = False,
    title: str | None = None,
    acts_as: str | None = None,
    token_param: str = "registration_token",
    project_admin: bool = False,
    aliases: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Register an async function as a tool whose errors reach clients as ``CODE: message Hint: ...``.

    ``output`` is the published output schema (see :mod:`.schemas`); results lose null and empty
    fields (:func:`.formatting.prune`). ``listing`` marks a tool returning a list: it gains a
    ``format`` parameter (``json`` or ``table``), checked before anything else runs.
    ``acts_as`` names the parameter holding the agent the caller acts as (e.g. ``sender_name``);
    ``token_param`` names the parameter a client may use to prove it is that agent. The tool
    then gets that optional parameter in its schema (even if ``fn`` does not take it), the caller
    is checked by :mod:`mcp_agent_mail.services.identity.auth` before ``fn`` runs, and a dict result gains
    ``verified`` (``verified_sender`` for senders). ``project_admin`` checks instead that the caller
    speaks for the project (a token of any of its agents). A result carrying a fresh
    ``registration_token`` binds the calling session to that agent. ``aliases`` (unpublished name ->
    parameter) are accepted besides the published parameters, as is every name of
    :data:`CALLER_TOKEN_NAMES` for the tool's own token parameter.
    """
    checks_identity = acts_as is not None or project_admin
    verified_key = "verified_sender" if acts_as == "sender_name" else "verified"

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                output_format = normalise_format(kwargs.pop("format", None)) if listing else "json"
                session_key = current_session_key()
                proof = None
                if checks_identity:
                    token = kwargs.pop(token_param, None) if token_param in added else kwargs.get(token_param)
                    proof = await _check_identity(
                        kwargs,
                        name=fn.__name__,
                        acts_as=acts_as,
                        token_param=token_param,
                        project_admin=project_admin,
                        token=token,
                        session_key=session_key,
                    )
                if read_only and acts_as is not None and proof is not None and proof.rows is not None:
                    # The check just read the caller's project and agent: the tool's reads reuse them.
                    with remembered(kwargs["project_key"], kwargs[acts_as], *proof.rows):
                        result = await fn(*args, **kwargs)
                else:
                    result = await fn(*args, **kwargs)
                auth.bind_from_result(session_key, result)
                if proof is not None and isinstance(result, dict):
                    result[verified_key] = proof.verified
                result = prune(result)
                if output_format == "table" and isinstance(result, list):
                    return table_result(result)
                return result
            except AgentMailError as exc:
                raise ToolError(exc.render(), log_level=logging.INFO) from exc
            except ToolError:
                raise
            except Exception as exc:
                if (coded := database_error(exc)) is not None:
                    raise ToolError(coded.render(), log_level=logging.INFO) from exc
                logger.exception("tool %s failed", fn.__name__)
                raise ToolError(
                    f"INTERNAL_ERROR: {type(exc).__name__}: {exc}. "
                    "Hint: nothing was changed unless the result said so; retry, and if it persists run "
                    "`mcp-agent-mail doctor check`."
                ) from exc

        extra: dict[str, Any] = {}
        if checks_identity:
            extra[token_param] = (_token_annotation(token_param, project_admin), None)
        if listing:
            extra["format"] = (FormatParam, None)
        added = _expose_params(wrapper, fn, extra)
        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        )
        tool = LeanTool.from_function(
            wrapper, annotations=annotations, output_schema=output if output is not None else NotSet
        )
        assert isinstance(tool, LeanTool)
        tool.parameters = lean_input_schema(tool.parameters)
        if tool.description:
            tool.description = " ".join(tool.description.split())  # a docstring's line breaks mean nothing
        tool.aliases = _aliases(tool.parameters, token_param, aliases or {})
        mcp.add_tool(tool)
        _REGISTERED.setdefault(mcp, []).append(tool.name)
        return fn

    return decorate
