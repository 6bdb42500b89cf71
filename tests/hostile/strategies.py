"""Hypothesis strategies for hostile tool arguments, built from each tool's input JSON schema.

Values are either hostile (wrong types, huge or empty strings, control characters,
odd Unicode, SQL/FTS metacharacters, path traversal) or references to the seeded
mailbox (:class:`Ref`), resolved to a current project key, agent name, token or id
just before the call, so that many calls get past lookups and reach deeper code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

HUGE = "x" * 100_000
HOSTILE_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\t\r\n",
    "\x00",
    "a\x00b",
    "\x1b[31mred\x1b[0m",
    "\x07\x08\x7f",
    "line\u2028sep",
    "\u202egnp.exe",
    "\u200f\u05e9\u05dc\u05d5\u05dd",
    "e\u0301\u0301\u0301\u0301",
    "\ufeffbom",
    "\u200b",
    "\U0001d518\U0001d52b\U0001d526",
    "\U0001f642" * 40,
    "\ufffd",
    "\uffff",
    "' OR 1=1 --",
    '"; DROP TABLE messages; --',
    "%",
    "_",
    "\\",
    "*",
    '"',
    '"unterminated',
    "NEAR(a b)",
    "a AND OR NOT",
    ")(",
    "subject:x",
    "^start",
    "a:b:c",
    "-",
    "--",
    "{}",
    "[]",
    "null",
    "0",
    "-1",
    "../../../../etc/passwd",
    "/etc/passwd",
    "..",
    "/",
    "//",
    "/work/../../etc",
    "~/.ssh/id_rsa",
    "..\\..\\windows\\system32",
    "%2e%2e%2f%2e%2e%2f",
    "**/../../*",
    "/**",
    "[",
    "[!a-",
    "{a,b}",
    "!*.py",
    "C:\\Windows",
    "file:///etc/passwd",
    "YOUR_PROJECT",
    "<script>alert(1)</script>",
    "1e309",
    HUGE,
    "/" + "a/" * 2000,
    "\ud800",
    "a\udfffb",
    "ship it \ud83d",
    "\ude80 landed",
    "caf\udce9",
    "\ud800\ud800",
)
TRAVERSAL_SUFFIXES = ("/../../etc", "/..", "/./x", "\x00", "/" + "x" * 300)

_PROJECT = ("project_key", "human_key", "to_project", "from_project")
_AGENT = ("agent_name", "sender_name", "from_agent", "to_agent", "requester", "target", "name", "name_hint")
_TOKEN = ("registration_token", "sender_token", "target_registration_token")
_RECIPIENTS = ("to", "cc", "bcc")


@dataclass(frozen=True)
class Ref:
    """A reference to a seeded value (kind, index), resolved at call time; ``suffix`` is appended to strings."""

    kind: str
    index: int = 0
    suffix: str = ""


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Any JSON value (the wrong type for most parameters)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(HOSTILE_STRINGS[:20]),
        st.text(max_size=10),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
        max_leaves=max_leaves,
    )


@st.composite
def with_lone_surrogate(draw: st.DrawFn) -> str:
    """Any text with one lone surrogate (U+D800..U+DFFF, never half of a pair) somewhere in it."""
    text = draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=30))
    position = draw(st.integers(0, len(text)))
    return text[:position] + chr(draw(st.integers(0xD800, 0xDFFF))) + text[position:]


def hostile_text() -> st.SearchStrategy[str]:
    """Strings an attacker or a confused model would send (lone surrogates included: they must be refused cleanly)."""
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.text(st.characters(), max_size=40),
        st.text(st.characters(codec="utf-8", categories=("Cc", "Cf", "Mn", "Zl", "Zp", "Co")), max_size=20),
        with_lone_surrogate(),
    )


def _ref_kind(name: str) -> str | None:
    if name in _PROJECT:
        return "project"
    if name in _AGENT or name in _RECIPIENTS:
        return "agent"
    if name in _TOKEN:
        return "token"
    if name in ("message_id",):
        return "message"
    if name in ("file_reservation_id", "file_reservation_ids"):
        return "reservation"
    if name == "thread_id":
        return "thread"
    if name in ("paths", "attachment_paths", "file_reservation_paths"):
        return "path"
    if name in ("topic", "topic_name"):
        return "topic"
    if name == "confirmation":
        return "confirmation"
    return None


def refs(name: str) -> st.SearchStrategy[Any] | None:
    """References to seeded values that fit a parameter named ``name`` (None if no seeded value fits)."""
    kind = _ref_kind(name)
    if kind is None:
        return None
    plain = st.builds(Ref, st.just(kind), st.integers(0, 3))
    with_suffix = st.builds(Ref, st.just(kind), st.integers(0, 3), st.sampled_from(TRAVERSAL_SUFFIXES))
    return st.one_of(plain, plain, plain, with_suffix)


def _resolve_ref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def from_schema(schema: dict[str, Any], defs: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values of the schema's type(s), hostile in content (out-of-range numbers, odd strings, odd lists)."""
    schema = _resolve_ref(schema, defs)
    options = [from_schema(sub, defs, name) for sub in schema.get("anyOf", []) + schema.get("oneOf", [])]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    for one in kinds:
        if one == "string":
            options.append(hostile_text())
        elif one == "integer":
            options.append(st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63)])))
        elif one == "number":
            options.append(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**40), 2**40)))
        elif one == "boolean":
            options.append(st.booleans())
        elif one == "null":
            options.append(st.none())
        elif one == "array":
            items = from_schema(schema.get("items", {}), defs, name)
            reference = refs(name)
            element = st.one_of(items, reference) if reference is not None else items
            options.append(st.one_of(st.lists(element, max_size=5), st.just([HUGE[:64]] * 500)))
        elif one == "object":
            options.append(st.dictionaries(st.text(max_size=8), json_values(3), max_size=3))
    if not options:
        options.append(json_values())
    return st.one_of(options)


def argument(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value for one parameter: a seeded reference, a schema-typed hostile value, or a wrong type."""
    typed = from_schema(schema, defs, name)
    reference = refs(name)
    choices = [typed, json_values()]
    if reference is not None:
        choices = [reference, reference, reference, typed, json_values()]
        if _resolve_ref(schema, defs).get("type") == "array" or name in _RECIPIENTS:
            choices.append(st.lists(reference, min_size=1, max_size=3))
    return st.one_of(choices)


_SANE_TEXT = {
    "query": ("plan", "migration", "Kickoff", '"exact phrase"', "plan*", "plan OR agreed", "POL-358"),
    "policy": ("auto", "open", "contacts_only", "block_all"),
    "importance": ("low", "normal", "high", "urgent"),
    "since_ts": ("2020-01-01T00:00:00+00:00", "2999-01-01T00:00:00Z"),
    "attachments_policy": ("auto", "inline", "file"),
    "format": ("json", "toon"),
}


def sane(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A plausible, mostly valid value for a parameter (seeded references where they fit)."""
    schema = _resolve_ref(schema, defs)
    reference = refs(name)
    alternatives = [s for s in schema.get("anyOf", []) + schema.get("oneOf", []) if s.get("type") != "null"]
    if alternatives:
        return sane(name, alternatives[0], defs)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        if reference is not None:
            item: st.SearchStrategy[Any] = st.builds(Ref, st.just(_ref_kind(name) or "agent"), st.integers(0, 3))
        else:
            item = sane(name, schema.get("items", {}), defs)
        return st.lists(item, min_size=1, max_size=3)
    if reference is not None:
        return st.builds(Ref, st.just(_ref_kind(name) or "agent"), st.integers(0, 3))
    if kind == "string":
        return st.sampled_from(_SANE_TEXT.get(name, ("Hello", "Plan for today", "p", "m")))
    if kind == "integer":
        return st.integers(1, 120)
    if kind == "number":
        return st.floats(0.1, 48)
    if kind == "boolean":
        return st.booleans()
    return st.none()


@st.composite
def tool_arguments(draw: st.DrawFn, tool: dict[str, Any]) -> dict[str, Any]:
    """Arguments for one tool: all plausible, or with one or several hostile values; unknown keys rarely."""
    schema = tool["inputSchema"]
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    properties = schema.get("properties", {})
    mode = draw(st.sampled_from(["sane", "one", "many"]))
    target = draw(st.sampled_from(sorted(properties))) if properties and mode == "one" else None
    args: dict[str, Any] = {}
    for name, sub in properties.items():
        present = name in required or draw(st.integers(0, 9)) < 4
        if mode == "many" and draw(st.integers(0, 19)) == 0:
            present = not present
        if name == target:
            present = True
        if not present:
            continue
        hostile = (mode == "many" and draw(st.booleans())) or name == target
        args[name] = draw(argument(name, sub, defs) if hostile else sane(name, sub, defs))
    if draw(st.integers(0, 19)) == 0:
        args[draw(st.sampled_from(["__proto__", "unknown", "x" * 300, ""]))] = draw(json_values(2))
    return args


def tool_calls(tools: list[dict[str, Any]]) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A (tool name, arguments) pair for any of ``tools``."""
    return st.one_of([st.tuples(st.just(tool["name"]), tool_arguments(tool)) for tool in tools])


SWEEP_VALUES: tuple[Any, ...] = (
    None,
    -1,
    2**64,
    [],
    "",
    "\x00",
    "x" * 20_000,
    "../../../../etc/passwd",
    "\ud800",
)
"""Values every parameter of every tool is given once, the other arguments being valid."""
