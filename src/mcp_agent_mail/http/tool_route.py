"""A direct route for single stateless ``tools/call`` requests.

In stateless mode the MCP SDK builds a whole server connection for every POST
(transport, streams, dispatcher, runner) and fastmcp then resolves the tool
through its providers and middleware chain. For the one request an agent makes
most, a single ``tools/call`` of one of our tools in plain JSON, that machinery
costs more CPU than the tool itself. :class:`ToolCallFastPath` answers such a
request directly: it runs the same tool object with the same argument
validation, records the call in the same metrics, and shapes the result with
the SDK's own per-version serialiser, so the answer is the one the SDK path
gives (``tests/http/test_fastpath.py`` compares the two on every kind of
outcome). Anything else, or anything unusual about the request (a session id,
a progress token, extra ``_meta``, ``Mcp-Param-*`` headers, a batch, another
method, an unknown tool, an SSE-only client), goes the regular way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as mcp_wire
from fastmcp import FastMCP
from fastmcp.exceptions import FastMCPError
from fastmcp.server.middleware import Middleware
from fastmcp.tools.base import InputRequiredToolResult, RawStructuredToolResult, Tool, ToolResult
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request, find_duplicated_routing_header
from mcp_types import SERVER_INFO_META_KEY
from mcp_types import methods as wire_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.types import Scope, Send

from mcp_agent_mail.http.body_limit import SURROGATE_ESCAPE
from mcp_agent_mail.http.catalog import ToolCatalog
from mcp_agent_mail.tools.call_metrics import ToolCallMetrics, record_tool_call
from mcp_agent_mail.tools.unknown_names import UnknownNames

logger = logging.getLogger("mcp_agent_mail.http")

_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_PARAM_KEYS = frozenset({"name", "arguments", "_meta"})
_MODERN_META_PREFIX = "io.modelcontextprotocol/"
_PROGRESS_TOKEN = "progressToken"
_INTERNAL_ERROR = -32603
_CALL_HOOKS = ("__call__", "on_message", "on_request", "on_call_tool")
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True, slots=True)
class FastCall:
    """A request the fast path will answer: the JSON-RPC id, the tool, its arguments, the protocol version."""

    request_id: int | str
    tool: Tool
    arguments: dict[str, Any]
    version: str


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]


def _accepts_json(headers: Mapping[str, str]) -> bool:
    accepted = [part.split(";")[0].strip().lower() for part in headers.get("accept", "").split(",")]
    return any(kind in ("application/json", "application/*", "*/*") for kind in accepted)


def _is_json_body(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


class ToolCallFastPath:
    """Answer eligible ``tools/call`` POSTs without the per-request MCP session machinery."""

    def __init__(self, server: FastMCP, catalog: ToolCatalog) -> None:
        self.server = server
        self.catalog = catalog
        self.enabled = self._plain_server(server)

    @staticmethod
    def _plain_server(server: FastMCP) -> bool:
        """Only a server whose middleware (besides our metrics, and our coded errors for tools it does not
        have, which the direct route never calls) leaves tool calls alone and that sets no cache hints on
        tool results."""
        for item in getattr(server, "middleware", []):
            if not isinstance(item, ToolCallMetrics | UnknownNames) and _intercepts_tool_calls(item):
                return False
        low_level = getattr(server, "_mcp_server", None)
        hints = getattr(low_level, "cache_hints", None)
        return low_level is not None and not (hints and hints.get("tools/call") is not None)

    async def match(self, scope: Scope, body: bytes, document: Any) -> FastCall | None:
        """Return the call when this request can be answered directly, else None (the SDK answers it)."""
        if not self.enabled or not isinstance(document, dict) or len(body) > DEFAULT_MAX_REQUEST_BODY_SIZE:
            return None
        if SURROGATE_ESCAPE.search(body):  # AccessControl refuses lone surrogates; valid pairs go the SDK's way
            return None
        if not document.keys() <= _ENVELOPE_KEYS or document.get("jsonrpc") != "2.0":
            return None
        request_id = document.get("id")
        if document.get("method") != "tools/call" or isinstance(request_id, bool):
            return None
        if not isinstance(request_id, (int, str)):
            return None
        params = document.get("params")
        if not isinstance(params, dict) or not params.keys() <= _PARAM_KEYS:
            return None
        name, arguments = params.get("name"), params.get("arguments", {})
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return None
        pairs = _headers(scope)
        headers = dict(pairs)
        if "mcp-session-id" in headers or any(key.startswith("mcp-param-") for key in headers):
            return None
        if not (_accepts_json(headers) and _is_json_body(headers)):
            return None
        version = self._version(document, params, headers, pairs)
        if version is None:
            return None
        tool = await self.catalog.tool(name)
        if tool is None:
            return None
        return FastCall(request_id, tool, arguments, version)

    @staticmethod
    def _version(
        document: dict[str, Any], params: dict[str, Any], headers: dict[str, str], pairs: list[tuple[str, str]]
    ) -> str | None:
        """Return the protocol version the SDK would serve this request at, or None to let it decide."""
        header = headers.get("mcp-protocol-version")
        meta = params.get("_meta")
        if header is None or header in HANDSHAKE_PROTOCOL_VERSIONS:
            if meta is not None:
                return None
            return header if header is not None else mcp_wire.DEFAULT_NEGOTIATED_VERSION
        if not isinstance(meta, dict) or _PROGRESS_TOKEN in meta:
            return None
        if any(not key.startswith(_MODERN_META_PREFIX) for key in meta):
            return None
        if find_duplicated_routing_header(pairs) is not None:
            return None
        verdict = classify_inbound_request(document, headers=headers)
        if isinstance(verdict, InboundLadderRejection):
            return None
        return verdict.protocol_version

    async def answer(self, call: FastCall, send: Send) -> None:
        """Run the tool and send the JSON-RPC response."""
        arguments = call.arguments
        started = time.perf_counter()
        ok = False
        try:
            result = await self._run(call)
            ok = not result.get("isError", False)
            envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": call.request_id, "result": result}
        except Exception:
            logger.exception("tool %s failed outside its error handling", call.tool.name)
            envelope = {
                "jsonrpc": "2.0",
                "id": call.request_id,
                "error": {"code": _INTERNAL_ERROR, "message": "Internal error"},
            }
        finally:
            record_tool_call(call.tool.name, ok, (time.perf_counter() - started) * 1000, arguments)
        payload = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _run(self, call: FastCall) -> dict[str, Any]:
        try:
            result = await call.tool._run(call.arguments)
        except FastMCPError as exc:
            return self._serialise(
                call, mcp_wire.CallToolResult(content=[mcp_wire.TextContent(type="text", text=str(exc))], is_error=True)
            )
        if isinstance(result, InputRequiredToolResult):
            raise RuntimeError(f"tool {call.tool.name} asked for client input, which the fast path cannot carry")
        return self._serialise(call, _wire_result(result, call.version))

    def _serialise(self, call: FastCall, result: mcp_wire.CallToolResult) -> dict[str, Any]:
        """Shape the result for the request's protocol version, as the SDK's runner does."""
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        modern = call.version in MODERN_PROTOCOL_VERSIONS
        result_type = dumped.get("resultType")
        if not modern or not isinstance(result_type, str) or result_type in mcp_wire.CORE_RESULT_TYPES:
            dumped = wire_methods.serialize_server_result("tools/call", call.version, dumped)
        if modern:
            dumped.setdefault("resultType", "complete")
            meta = dumped.get("_meta")
            stamp = self.server._mcp_server.server_info_stamp
            if meta is None:
                dumped["_meta"] = {SERVER_INFO_META_KEY: stamp}
            elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
                dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: stamp}
        return dumped


def _intercepts_tool_calls(middleware: Middleware) -> bool:
    """Tell whether a middleware overrides any hook a ``tools/call`` request passes through."""
    kind = type(middleware)
    return any(getattr(kind, hook) is not getattr(Middleware, hook) for hook in _CALL_HOOKS)


def _wire_result(result: ToolResult, version: str) -> mcp_wire.CallToolResult:
    """Turn a tool's result into the wire model; legacy versions get non-object results under ``result``."""
    if version not in MODERN_PROTOCOL_VERSIONS and (
        isinstance(result, RawStructuredToolResult)
        or (result.structured_content is not None and not isinstance(result.structured_content, dict))
    ):
        fastmcp_meta = result.meta.get("fastmcp") if result.meta else None
        wrapped = isinstance(fastmcp_meta, dict) and fastmcp_meta.get("wrap_result") is True
        if not wrapped:
            meta = dict(result.meta or {})
            meta["fastmcp"] = {**(fastmcp_meta if isinstance(fastmcp_meta, dict) else {}), "wrap_result": True}
            result = ToolResult(
                content=result.content,
                structured_content={"result": result.structured_content},
                meta=meta,
                is_error=result.is_error,
            )
    converted = result.to_mcp_result()
    if isinstance(converted, mcp_wire.CallToolResult):
        return converted
    if isinstance(converted, tuple):
        content, structured = converted
        return mcp_wire.CallToolResult(content=content, structured_content=structured)
    return mcp_wire.CallToolResult(content=converted)


__all__ = ["FastCall", "ToolCallFastPath"]
