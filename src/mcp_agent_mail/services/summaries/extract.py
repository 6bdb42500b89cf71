"""Deterministic reading of Markdown mail: key points, decisions, actions, questions, files, mentions.

Every extracted item carries ``refs``, the ids of the messages it came from.
Rules, per body line (fenced code and ``>`` quoted lines are skipped):

- ``- [ ]`` / ``1. [ ]`` open checkbox → action item; ``[x]`` → done action (a done box closes an
  open one with the same text);
- ``TODO``/``FIXME``/``ACTION``/``NEXT``/``BLOCKED`` in capitals, or a line starting ``todo:``,
  ``next steps:``, ``action item:``, ``blocked:`` → action item;
- ``@Name please …`` / ``@Name can you …`` (and ``please @Name …``) → action item assigned to Name;
- a line with "decided", "we will", "agreed", "decision:", "let's go with", "approved", … that is
  not itself a question → decision;
- a sentence ending in ``?`` → question; it stays open unless a later message of the same thread by
  someone else quotes it, shares one of its significant words, or is the first message from
  someone else after it when it was the only question of its message;
- any other bullet or numbered line → key point.

Texts that differ only in case, punctuation or spacing are merged (their refs joined).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp_agent_mail.services.identity.names import name_key

LIMITS = {
    "key_points": 25,
    "decisions": 20,
    "action_items": 25,
    "done_actions": 25,
    "open_questions": 20,
    "mentioned_files": 25,
    "mentions": 10,
}
TEXT_MAX = 300

_FENCE = re.compile(r"^(```|~~~)")
_CHECKBOX = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+\[([ xX])\]\s*(.*)$")
_BULLET = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+(.+)$")
_ACTION_WORD = re.compile(r"\b(?:TODO|FIXME|ACTION|NEXT|BLOCKED)\b")
_ACTION_PREFIX = re.compile(
    r"^(?:todo|fixme|action(?:\s+items?)?|next(?:\s+steps?)?|blocked|blocker)\s*[:\-–]", re.IGNORECASE
)
_REQUEST_AFTER = re.compile(
    r"(?<![\w@])@([A-Za-z][A-Za-z0-9_-]{0,63})[,:]?\s+(?:please|pls|can you|could you|would you|will you)\b",
    re.IGNORECASE,
)
_REQUEST_BEFORE = re.compile(
    r"\b(?:please|can you|could you|would you)\b[^@\n]{0,24}?(?<![\w@])@([A-Za-z][A-Za-z0-9_-]{0,63})",
    re.IGNORECASE,
)
_DECISION = re.compile(
    r"\b(?:decided|decision\s*:|we will|we'll|we(?:'ve| have)? agreed|agreed|let'?s go with|going with|"
    r"approved|final call|resolved\s*:)",
    re.IGNORECASE,
)
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z][A-Za-z0-9_-]{0,63})")
_BACKTICK = re.compile(r"`([^`\n]{1,200})`")
_PATH = re.compile(r"^(?:\.{1,2}/|/)?(?:[\w*.-]+/)*[\w*-][\w*.-]*\.([A-Za-z][A-Za-z0-9]{0,7})$")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9][a-z0-9_-]*")
_LEFT_PUNCT = "([{<\"'"
_RIGHT_PUNCT = ")]}>\"'.,;:!?"


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KNOWN_EXTENSIONS = _wordset(
    "py pyi md rst txt toml yaml yml json jsonl ini cfg conf env lock ts tsx js jsx mjs cjs css scss html "
    "vue svelte rs go java kt kts scala c h cc cpp hpp cs rb php sh bash zsh fish sql proto graphql tf "
    "xml csv ipynb swift m mm dart ex exs erl hs ml lua r pl gradle dockerfile mk cmake"
)
_STOPWORDS = _wordset(
    "about above after again also because been before being below between both could does doing down during "
    "each from further have having here into just more most other ought over same should some such than that "
    "their theirs them then there these they this those through under until very want what when where which "
    "while whom will with would your yours shall might must anyone anything someone something maybe think "
    "know need needs please thanks thank okay sure still already really going make made using use used"
)


@dataclass(frozen=True)
class MailItem:
    """One message as the summariser sees it (only what the viewer may see)."""

    id: int
    thread_key: str
    sender: str
    subject: str
    body_md: str
    created_ts: datetime
    recipients: tuple[str, ...] = ()  # to and cc only; bcc lists are never summarised


@dataclass
class _Entry:
    text: str
    refs: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, text_key: str = "text") -> dict[str, Any]:
        return {text_key: self.text, **self.extra, "refs": sorted(set(self.refs))}


class _Bucket:
    """Ordered, de-duplicated items keyed by normalised text."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}

    def add(self, text: str, ref: int, **extra: Any) -> None:
        key = norm_key(text)
        if not key:
            return
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = _Entry(text, [ref], {k: v for k, v in extra.items() if v})
        elif ref not in entry.refs:
            entry.refs.append(ref)

    def discard(self, key: str) -> None:
        self.entries.pop(key, None)

    def dump(self, limit: int, text_key: str = "text") -> list[dict[str, Any]]:
        return [e.as_dict(text_key) for e in list(self.entries.values())[:limit]]


@dataclass
class _Question:
    text: str
    message: MailItem
    keywords: frozenset[str]
    sole: bool


def norm_key(text: str) -> str:
    """Return the comparison key of an item text: lowercase words only."""
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def _clip(text: str) -> str:
    cleaned = " ".join(text.split())
    return cleaned if len(cleaned) <= TEXT_MAX else cleaned[: TEXT_MAX - 1].rstrip() + "…"


def _keywords(text: str) -> frozenset[str]:
    return frozenset(w[:6] for w in _WORD.findall(text.casefold()) if len(w) >= 4 and w not in _STOPWORDS)


def _canonical(name: str, known: Mapping[str, str]) -> str:
    return known.get(name_key(name), name)


def _bare(token: str) -> str:
    """Strip quotes, brackets, sentence punctuation and Markdown emphasis around a word."""
    token = token.lstrip(_LEFT_PUNCT).rstrip(_RIGHT_PUNCT).rstrip("*_")
    if token.startswith(("**", "__", "_")) or (token.startswith("*") and not token.startswith("*.")):
        token = token.lstrip("*_")
    return token.rstrip(_RIGHT_PUNCT)


def file_paths(text: str) -> list[str]:
    """Return file paths mentioned in ``text``: backticked or bare, with an extension, no URLs."""
    found: list[str] = []
    spans = _BACKTICK.findall(text)
    rest = _BACKTICK.sub(" ", text)
    candidates = [s.strip() for s in spans] + [_bare(t) for t in rest.split()]
    for token in candidates:
        if not token or " " in token or "://" in token or "@" in token or len(token) > 200:
            continue
        match = _PATH.match(token)
        if match is None:
            continue
        if "/" in token or match.group(1).lower() in _KNOWN_EXTENSIONS:
            found.append(token)
    return found


def _request_assignee(text: str) -> str | None:
    match = _REQUEST_AFTER.search(text) or _REQUEST_BEFORE.search(text)
    return match.group(1) if match else None


def _first_mention(text: str) -> str | None:
    match = _MENTION.search(text)
    return match.group(1) if match else None


class _Reader:
    """Accumulates the findings of a sequence of messages (oldest first)."""

    def __init__(self, known_agents: Mapping[str, str]) -> None:
        self.known = known_agents
        self.key_points = _Bucket()
        self.decisions = _Bucket()
        self.actions = _Bucket()
        self.done = _Bucket()
        self.files = _Bucket()
        self.questions: list[_Question] = []
        self.mentions: dict[str, list[int]] = {}
        self.participants: set[str] = set()

    def read(self, message: MailItem) -> None:
        self.participants.add(message.sender)
        self.participants.update(message.recipients)
        self._scan_refs(message.subject, message.id)
        questions: list[str] = []
        in_fence = False
        for raw in message.body_md.splitlines():
            line = raw.strip()
            if _FENCE.match(line):
                in_fence = not in_fence
                continue
            if in_fence or not line or line.startswith(">"):
                continue
            self._scan_refs(line, message.id)
            if not line.startswith("#"):
                self._classify(line, message.id, questions)
        for text in questions:
            self.questions.append(_Question(text, message, _keywords(text), len(questions) == 1))

    def _scan_refs(self, text: str, ref: int) -> None:
        for name in _MENTION.findall(text):
            self.mentions.setdefault(_canonical(name.rstrip("-_"), self.known), []).append(ref)
        for path in file_paths(text):
            self.files.add(path, ref)

    def _assignee(self, text: str) -> str | None:
        name = _request_assignee(text) or _first_mention(text)
        return _canonical(name, self.known) if name else None

    def _classify(self, line: str, ref: int, questions: list[str]) -> None:
        box = _CHECKBOX.match(line)
        if box:
            text = _clip(box.group(2))
            if box.group(1) == " ":
                self.actions.add(text, ref, kind="checkbox", assignee=self._assignee(text))
            else:
                self.done.add(text, ref)
                self.actions.discard(norm_key(text))
            return
        bullet = _BULLET.match(line)
        content = _clip(bullet.group(1) if bullet else line)
        if _ACTION_WORD.search(content) or _ACTION_PREFIX.match(content):
            self.actions.add(content, ref, kind="todo", assignee=self._assignee(content))
            return
        assignee = _request_assignee(content)
        if assignee:
            self.actions.add(content, ref, kind="request", assignee=_canonical(assignee, self.known))
            return
        asked = [s.strip() for s in _SENTENCE_SPLIT.split(content) if s.strip().rstrip(")*_").endswith("?")]
        if _DECISION.search(content) and not content.rstrip(")*_").endswith("?"):
            self.decisions.add(content, ref)
            return
        if asked:
            questions.extend(_clip(q) for q in asked)
            return
        if bullet and len(norm_key(content)) >= 3:
            self.key_points.add(content, ref)

    def open_questions(self, messages: Sequence[MailItem]) -> list[dict[str, Any]]:
        bucket = _Bucket()
        for question in self.questions:
            if not _answered(question, messages):
                bucket.add(question.text, question.message.id, asked_by=question.message.sender)
        return bucket.dump(LIMITS["open_questions"])

    def mention_list(self) -> list[dict[str, Any]]:
        ranked = sorted(self.mentions.items(), key=lambda kv: (-len(kv[1]), kv[0].casefold()))
        return [
            {"name": name, "count": len(refs), "refs": sorted(set(refs))} for name, refs in ranked[: LIMITS["mentions"]]
        ]


def _answered(question: _Question, messages: Sequence[MailItem]) -> bool:
    asked = question.message
    later = [m for m in messages if m.thread_key == asked.thread_key and m.id > asked.id and m.sender != asked.sender]
    if not later:
        return False
    if question.sole:
        return True  # the next message from someone else answers a lone question
    needle = norm_key(question.text)
    for reply in later:
        quoted = " ".join(
            line.strip().lstrip(">") for line in reply.body_md.splitlines() if line.strip().startswith(">")
        )
        if needle and needle in norm_key(quoted):
            return True
        if question.keywords & _keywords(reply.body_md):
            return True
    return False


def summarize(messages: Iterable[MailItem], known_agents: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the deterministic summary of ``messages`` (any order; read oldest first)."""
    ordered = sorted(messages, key=lambda m: (m.created_ts, m.id))
    reader = _Reader(known_agents or {})
    for message in ordered:
        reader.read(message)
    return {
        "participants": sorted(reader.participants, key=str.casefold),
        "total_messages": len(ordered),
        "key_points": reader.key_points.dump(LIMITS["key_points"]),
        "decisions": reader.decisions.dump(LIMITS["decisions"]),
        "action_items": reader.actions.dump(LIMITS["action_items"]),
        "done_actions": reader.done.dump(LIMITS["done_actions"]),
        "open_questions": reader.open_questions(ordered),
        "mentioned_files": reader.files.dump(LIMITS["mentioned_files"], text_key="path"),
        "mentions": reader.mention_list(),
    }


def empty_summary() -> dict[str, Any]:
    """Return the summary of no messages."""
    return summarize([])


def combine(summaries: Sequence[dict[str, Any]], limit: int = 25) -> dict[str, Any]:
    """Merge several thread summaries into one aggregate (refs joined, lists capped at ``limit``)."""
    aggregate: dict[str, Any] = {
        "participants": sorted({p for s in summaries for p in s["participants"]}, key=str.casefold),
        "total_messages": sum(s["total_messages"] for s in summaries),
    }
    summarized = sum(s.get("summarized_messages", s["total_messages"]) for s in summaries)
    if summarized != aggregate["total_messages"]:
        aggregate["summarized_messages"] = summarized
    for key in ("key_points", "decisions", "action_items", "done_actions", "open_questions"):
        aggregate[key] = _merge_items([item for s in summaries for item in s[key]], "text", limit)
    aggregate["mentioned_files"] = _merge_items(
        [item for s in summaries for item in s["mentioned_files"]], "path", limit
    )
    counts: dict[str, tuple[int, set[int]]] = {}
    for s in summaries:
        for mention in s["mentions"]:
            count, refs = counts.get(mention["name"], (0, set()))
            counts[mention["name"]] = (count + mention["count"], refs | set(mention["refs"]))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0].casefold()))
    aggregate["top_mentions"] = [
        {"name": name, "count": count, "refs": sorted(refs)} for name, (count, refs) in ranked[:10]
    ]
    return aggregate


def _merge_items(items: list[dict[str, Any]], text_key: str, limit: int) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for item in items:
        key = norm_key(item[text_key])
        if key in merged:
            merged[key]["refs"] = sorted(set(merged[key]["refs"]) | set(item["refs"]))
        else:
            merged[key] = dict(item)
    return list(merged.values())[:limit]
