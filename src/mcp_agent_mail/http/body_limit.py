"""Request body checks: a size limit enforced while the body arrives, and refusal of invalid Unicode in JSON-RPC.

:class:`BodyLimit` sits in front of authentication and everything else: a body
whose ``Content-Length`` is over the limit is refused at once, without reading
it, and a body sent without a length (chunked) is counted as it streams in and
refused as soon as it passes the limit, so a huge upload costs the server no
memory. :func:`invalid_text_reply` refuses a JSON-RPC body holding a lone
surrogate escape (``"\\ud800"``) or bytes that are not UTF-8 with INVALID_ARGUMENT
naming the parameter, where the MCP SDK would answer a bare parse error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError, PayloadTooLargeError
from mcp_agent_mail.http.error_body import error_response
from mcp_agent_mail.text_guard import InvalidText, find_invalid_text, invalid_text_error

logger = logging.getLogger("mcp_agent_mail.http")

MAX_BODY_BYTES = DEFAULT_MAX_REQUEST_BODY_SIZE
"""The largest request body served: the MCP SDK's own limit for Streamable HTTP (4 MiB)."""

# A \uD800-\uDFFF escape: json.loads hands Python a lone surrogate where the SDK's parser refuses the body.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_INVALID_PARAMS = -32602
_PARSE_ERROR = -32700


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int, declared: int | None) -> PayloadTooLargeError:
    size = f"of {declared} bytes " if declared is not None else ""
    return PayloadTooLargeError(
        f"The request body {size}is larger than this server accepts ({limit} bytes, {limit // (1 << 20)} MiB).",
        hint="Send less per call: split the work into several calls, and reference large files by repository "
        "path (attachment_paths) instead of inlining them.",
        data={"limit_bytes": limit},
    )


def _error_response(error: AgentMailError, *, close: bool = False) -> JSONResponse:
    """Render a refusal as its HTTP status and ``{"detail": ..., "error": {code, message, hint}}``."""
    return error_response(error, {"Connection": "close"} if close else None)


@dataclass(slots=True)
class _Progress:
    received: int = 0
    started: bool = False
    refused: bool = False


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` (413) before anything reads them whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a ``receive`` that counts the body; answer 413 once it is over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            self._log(scope, declared)
            await _error_response(_too_large(self.max_bytes, declared), close=True)(scope, receive, send)
            return
        progress = _Progress()

        async def counting_receive() -> Message:
            if progress.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                progress.received += len(message.get("body", b""))
                if progress.received > self.max_bytes:
                    progress.refused = True
                    self._log(scope, None)
                    if not progress.started:
                        await _error_response(_too_large(self.max_bytes, None), close=True)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if progress.refused:
                return
            if message["type"] == "http.response.start":
                progress.started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not progress.refused:
                raise
            logger.debug("request abandoned after its body went over the limit", exc_info=True)

    def _log(self, scope: Scope, declared: int | None) -> None:
        client = scope.get("client")
        logger.info(
            "refused %s %s from %s: 413 body %s over %d bytes",
            scope.get("method"),
            scope.get("path"),
            client[0] if client else "?",
            f"of {declared} bytes" if declared is not None else "(streamed)",
            self.max_bytes,
        )


def _request_id(item: Any) -> int | str | None:
    ident = item.get("id") if isinstance(item, dict) else None
    return ident if isinstance(ident, int | str) and not isinstance(ident, bool) else None


def _find_in_request(item: Any, prefix: str) -> InvalidText | None:
    """Find invalid text in one JSON-RPC request; ``tools/call`` arguments are named as the tool names them."""
    params = item.get("params") if isinstance(item, dict) else None
    if isinstance(item, dict) and item.get("method") == "tools/call" and isinstance(params, dict):
        found = find_invalid_text(params.get("name"), "the tool name")
        arguments = params.get("arguments")
        if found is None and isinstance(arguments, dict):
            found = find_invalid_text(arguments)
        if found is not None:
            return found
    return find_invalid_text(item, prefix)


def invalid_text_reply(body: bytes, document: Any) -> JSONResponse | None:
    """Return the 400 answer for a JSON-RPC body holding invalid Unicode, or None when its text is valid.

    ``document`` is the body as ``json.loads`` decoded it (anything else when it did not decode).
    """
    if isinstance(document, dict | list):
        if not SURROGATE_ESCAPE.search(body):
            return None
        items = document if isinstance(document, list) else [document]
        for position, item in enumerate(items):
            found = _find_in_request(item, f"[{position}]" if isinstance(document, list) else "")
            if found is not None:
                ident = _request_id(document)
                return _rpc_error(ident, _INVALID_PARAMS, invalid_text_error(found))
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        error = InvalidArgumentError(
            f"The request body is not valid UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}.",
            hint="Send the JSON-RPC request encoded as UTF-8.",
        )
        return _rpc_error(None, _PARSE_ERROR, error)
    return None


def _rpc_error(ident: int | str | None, code: int, error: InvalidArgumentError) -> JSONResponse:
    payload = {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": error.render()}}
    return JSONResponse(payload, status_code=400)


__all__ = ["MAX_BODY_BYTES", "SURROGATE_ESCAPE", "BodyLimit", "invalid_text_reply"]
