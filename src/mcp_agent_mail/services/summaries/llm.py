"""A small client for OpenAI-compatible chat completion endpoints, asking for JSON replies.

Configured by ``LLM_BASE_URL``, ``LLM_API_KEY``, ``LLM_MODEL`` and ``LLM_TIMEOUT_SECONDS``.
Failures raise :class:`LlmError` with a short reason that never contains the key or the URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from mcp_agent_mail.config import LlmSettings, get_settings
from mcp_agent_mail.errors import UnavailableError

logger = logging.getLogger("mcp_agent_mail.llm")

MAX_REPLY_BYTES = 2 * 1024 * 1024
_FENCED = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


class LlmError(UnavailableError):
    """The language model could not produce a usable reply."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"LLM request failed: {reason}", hint="The deterministic summary is used instead.")
        self.reason = reason


@dataclass(frozen=True)
class LlmReply:
    """The parsed JSON object a model returned, and the model that produced it."""

    data: dict[str, Any]
    model: str


def parse_json_object(text: str) -> dict[str, Any]:
    """Read a JSON object from a model reply: plain JSON, a fenced block, or the first ``{`` to the last ``}``."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCED.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise LlmError("the reply is not a JSON object")


def _content(payload: Any) -> str:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LlmError("the reply has no choices[0].message.content") from None
    if not isinstance(content, str) or not content.strip():
        raise LlmError("the reply content is empty")
    return content


def _request(settings: LlmSettings, model: str, system: str, user: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    url = settings.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "response_format": {"type": "json_object"},
    }
    return url, headers, body


async def _post(url: str, headers: dict[str, str], body: dict[str, Any], timeout: float) -> httpx.Response:
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
        return await client.post(url, headers=headers, json=body)


async def complete_json(system: str, user: str, *, model: str | None = None) -> LlmReply:
    """Ask the configured endpoint for a JSON object answering ``user`` under ``system`` instructions."""
    settings = get_settings().llm
    if not settings.base_url.strip():
        raise LlmError("LLM_BASE_URL is not set")
    chosen = (model or "").strip() or settings.model
    url, headers, body = _request(settings, chosen, system, user)
    try:
        async with asyncio.timeout(settings.timeout_seconds + 1.0):
            response = await _post(url, headers, body, settings.timeout_seconds)
    except (TimeoutError, httpx.TimeoutException):
        raise LlmError(f"no reply within {settings.timeout_seconds:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise LlmError(f"could not reach the endpoint ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise LlmError(f"the endpoint answered HTTP {response.status_code}")
    if len(response.content) > MAX_REPLY_BYTES:
        raise LlmError("the reply is too large")
    try:
        payload = response.json()
    except ValueError:
        raise LlmError("the endpoint did not return JSON") from None
    data = parse_json_object(_content(payload))
    used = payload.get("model") if isinstance(payload.get("model"), str) and payload.get("model") else chosen
    logger.debug("LLM reply from model %s (%d bytes)", used, len(response.content))
    return LlmReply(data=data, model=str(used)[:128])
