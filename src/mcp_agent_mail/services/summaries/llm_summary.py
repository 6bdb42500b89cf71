"""Optional refinement of a deterministic summary by a language model.

The model sees a bounded digest of the visible messages and the rule-based draft,
and answers with JSON. Its items must cite message ids that were in the digest;
items citing none are dropped. Any failure leaves the draft as it was, with
``llm_fallback`` saying why.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.services.summaries import llm
from mcp_agent_mail.services.summaries.extract import LIMITS, MailItem, norm_key

logger = logging.getLogger("mcp_agent_mail.summaries")

PROMPT_MAX_MESSAGES = 60
BODY_MAX_CHARS = 1200
PROMPT_MAX_CHARS = 32000
DRAFT_MAX_CHARS = 6000
OVERVIEW_MAX_CHARS = 1500
ITEM_MAX_CHARS = 500
_REFINED = ("key_points", "decisions", "action_items", "open_questions")
_ASSIGNEE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

SYSTEM_PROMPT = (
    "You summarise mail exchanged by software agents working on one codebase. Answer with ONE JSON object "
    "and nothing else, with these keys: overview (two or three sentences), key_points, decisions, "
    'action_items, open_questions. Each list holds objects {"text": str, "refs": [message ids]}; '
    'action items may add "assignee" (an agent name). refs are the numbers shown as [#id] before each '
    "message, and every item must cite at least one. Use only facts stated in the messages; keep items "
    "short; an open question is one nobody answered later."
)


def _digest(messages: Sequence[MailItem]) -> tuple[str, set[int]]:
    """Render the most recent messages that fit the prompt budget, oldest first."""
    blocks: list[str] = []
    used = 0
    ids: set[int] = set()
    for message in list(messages)[-PROMPT_MAX_MESSAGES:][::-1]:
        body = message.body_md.strip()
        if len(body) > BODY_MAX_CHARS:
            body = body[:BODY_MAX_CHARS].rstrip() + " …"
        block = (
            f"[#{message.id}] {message.created_ts.isoformat()} from {message.sender} "
            f"(thread {message.thread_key}) — {message.subject}\n{body}\n"
        )
        if blocks and used + len(block) > PROMPT_MAX_CHARS:
            break
        blocks.append(block)
        used += len(block)
        ids.add(message.id)
    return "\n".join(reversed(blocks)), ids


def build_prompt(messages: Sequence[MailItem], draft: dict[str, Any]) -> tuple[str, set[int]]:
    """Return the user prompt for ``messages`` and the message ids it shows."""
    digest, ids = _digest(messages)
    draft_view = {k: draft.get(k, []) for k in _REFINED}
    draft_json = json.dumps(draft_view, ensure_ascii=False)
    if len(draft_json) > DRAFT_MAX_CHARS:
        draft_json = draft_json[:DRAFT_MAX_CHARS] + " …(cut)"
    prompt = (
        f"Messages ({len(ids)} of {len(messages)}, oldest first):\n\n{digest}\n\n"
        f"A rule-based draft of the summary (improve it; keep what is right):\n{draft_json}\n"
    )
    return prompt, ids


def _refs(value: Any, valid: set[int]) -> list[int]:
    raw = value if isinstance(value, list) else [value]
    refs: set[int] = set()
    for ref in raw:
        if isinstance(ref, bool):
            continue
        if isinstance(ref, int):
            number = ref
        elif isinstance(ref, str) and ref.strip().lstrip("#").isdigit():
            number = int(ref.strip().lstrip("#"))
        else:
            continue
        if number in valid:
            refs.add(number)
    return sorted(refs)


def _clean_items(value: Any, valid: set[int], limit: int, *, with_assignee: bool) -> list[dict[str, Any]] | None:
    """Return the usable items of a model list (None when the key is missing or not a list)."""
    if not isinstance(value, list):
        return None
    items: dict[str, dict[str, Any]] = {}
    for raw in value:
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
            continue
        text = " ".join(raw["text"].split())[:ITEM_MAX_CHARS]
        refs = _refs(raw.get("refs", []), valid)
        key = norm_key(text)
        if not key or not refs or key in items:
            continue
        item: dict[str, Any] = {"text": text}
        assignee = raw.get("assignee")
        if with_assignee and isinstance(assignee, str) and _ASSIGNEE.match(assignee.strip().lstrip("@")):
            item["assignee"] = assignee.strip().lstrip("@")
        item["refs"] = refs
        items[key] = item
    return list(items.values())[:limit]


def merge(draft: dict[str, Any], data: dict[str, Any], valid: set[int]) -> dict[str, Any] | None:
    """Return ``draft`` refined by the model's JSON, or None when the reply holds nothing usable."""
    merged = dict(draft)
    changed = False
    for key in _REFINED:
        limit = LIMITS.get(key, 25)
        items = _clean_items(data.get(key), valid, limit, with_assignee=key == "action_items")
        if not items:
            continue
        if key == "action_items":
            # Rule-found actions (checkboxes, TODOs, requests) are kept alongside the model's.
            seen = {norm_key(i["text"]) for i in items}
            items += [i for i in draft.get(key, []) if norm_key(i["text"]) not in seen]
            items = items[:limit]
        merged[key] = items
        changed = True
    overview = data.get("overview")
    if isinstance(overview, str) and overview.strip():
        merged["overview"] = " ".join(overview.split())[:OVERVIEW_MAX_CHARS]
        changed = True
    return merged if changed else None


async def refine(
    draft: dict[str, Any], messages: Sequence[MailItem], llm_mode: bool, llm_model: str | None
) -> dict[str, Any]:
    """Return ``draft`` refined by the configured model when asked and enabled, else ``draft`` (with a reason)."""
    if not llm_mode:
        return draft
    if not get_settings().llm.enabled:
        return {**draft, "llm_fallback": "LLM_ENABLED is false"}
    if not messages:
        return draft
    prompt, valid = build_prompt(messages, draft)
    try:
        reply = await llm.complete_json(SYSTEM_PROMPT, prompt, model=llm_model)
    except llm.LlmError as exc:
        logger.info("summary without LLM refinement: %s", exc.reason)
        return {**draft, "llm_fallback": exc.reason}
    except Exception as exc:  # any other failure also leaves the deterministic summary
        logger.warning("summary without LLM refinement: %s", type(exc).__name__)
        return {**draft, "llm_fallback": f"unexpected {type(exc).__name__}"}
    merged = merge(draft, reply.data, valid)
    if merged is None:
        logger.info("summary without LLM refinement: the reply had no usable items")
        return {**draft, "llm_fallback": "the reply had no usable items"}
    merged["llm_model"] = reply.model
    return merged
