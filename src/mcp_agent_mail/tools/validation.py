"""Turning a tool's argument-validation failure into an INVALID_ARGUMENT error a model can act on.

pydantic reports wrong types, missing and unknown parameters as several lines of
its own text with a documentation link. A client instead gets one coded line that
names each parameter, says what it must be (from the tool's input schema) and
what was sent, and a hint listing the parameters the tool takes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from mcp_agent_mail.errors import InvalidArgumentError

_MISSING = frozenset(
    {"missing", "missing_argument", "missing_keyword_only_argument", "missing_positional_only_argument"}
)
_UNKNOWN = frozenset({"unexpected_keyword_argument", "extra_forbidden"})
_KIND = {
    "integer": ("an integer", "integers"),
    "number": ("a number", "numbers"),
    "string": ("a string", "strings"),
    "boolean": ("true or false", "booleans"),
    "object": ("an object", "objects"),
    "array": ("a list", "lists"),
    "null": ("null", "nulls"),
}
_SHOWN_MAX = 60
_TYPE_ERRORS = frozenset({"literal_error", "enum", "int_from_float", "is_instance_of", "union_tag_invalid"})


def _shown(value: Any) -> str:
    """Return a short printable rendering of a JSON value as the client sent it."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if isinstance(value, str) and len(value) > 40:
        return f'{json.dumps(value[:40], ensure_ascii=True)[:-1]}…" ({len(value)} characters)'
    if len(text) > _SHOWN_MAX:
        return f"{text[:_SHOWN_MAX]}… ({len(text)} characters of JSON)"
    return text


def _expects(schema: Mapping[str, Any], plural: bool = False) -> str:
    """Describe what a JSON schema accepts: ``an integer``, ``a list of strings``, ``one of low, high``."""
    if "enum" in schema:
        return "one of " + ", ".join(str(item) for item in schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return " or ".join(dict.fromkeys(_expects(option, plural) for option in options))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_expects({**schema, "type": one}, plural) for one in kind)
    if kind == "array":
        items = schema.get("items")
        text = f"a list of {_expects(items, plural=True)}" if isinstance(items, Mapping) and items else "a list"
        return text if not plural else "lists"
    single, many = _KIND.get(str(kind), ("a value", "values"))
    return many if plural else single


def _item_schema(schema: Mapping[str, Any], steps: int) -> Mapping[str, Any]:
    for _ in range(steps):
        items = schema.get("items")
        schema = items if isinstance(items, Mapping) else {}
    return schema


def _element(error: Mapping[str, Any]) -> list[int]:
    return [part for part in error["loc"][1:] if isinstance(part, int)]


def _list_form(schema: Mapping[str, Any], value: Any) -> Mapping[str, Any]:
    """For a list value, return the list alternative of a "string or list" schema (else ``schema``)."""
    options = schema.get("anyOf")
    if isinstance(value, list) and isinstance(options, list):
        for option in options:
            if isinstance(option, Mapping) and option.get("type") == "array":
                return option
    return schema


def _describe(param: str, errors: list[Mapping[str, Any]], value: Any, schema: Mapping[str, Any]) -> str:
    """Say what is wrong with one parameter (pydantic may report one error per union member)."""
    schema = _list_form(schema, value)
    chosen = errors[0]
    indices: list[int] = []
    nested = len(errors) > 1 or any(isinstance(part, str) for part in chosen["loc"][1:])
    if not nested:
        indices = _element(chosen)
    elif schema.get("type") == "array" and isinstance(value, list):
        inner = [error for error in errors if _element(error)]
        if inner:
            chosen, indices = inner[0], _element(inner[0])
    path = param + "".join(f"[{index}]" for index in indices)
    shown = _shown(chosen.get("input") if indices else value)
    kind = str(chosen.get("type", ""))
    expected = _item_schema(schema, len(indices))
    if expected and (nested or kind in _TYPE_ERRORS or kind.endswith(("_type", "_parsing"))):
        return f"{path} must be {_expects(expected)}; got {shown}."
    message = str(chosen.get("msg", "is invalid")).removeprefix("Value error, ")
    if message.startswith("Input "):
        message = message.removeprefix("Input ")
    return f"{path} {message[:1].lower()}{message[1:]}; got {shown}."


def _fix_hint(tool: str, invalid: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    """Say how to send the one invalid parameter, or where to look when several are invalid."""
    if len(invalid) == 1:
        param = next(iter(invalid))
        schema = properties.get(param)
        if isinstance(schema, Mapping) and schema:
            default = ""
            if "default" in schema:
                default = f" (or leave it out for the default, {json.dumps(schema['default'])})"
            return f"Send {param} as {_expects(schema)}{default}."
    return f"Fix each parameter named above; tools/list shows {tool}'s input schema."


def _names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def invalid_arguments(
    tool: str, schema: Mapping[str, Any], arguments: Mapping[str, Any], error: PydanticValidationError
) -> InvalidArgumentError:
    """Return the INVALID_ARGUMENT error for arguments of ``tool`` that failed validation against ``schema``."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = [str(name) for name in schema.get("required") or []]
    missing: list[str] = []
    unknown: list[str] = []
    invalid: dict[str, list[Mapping[str, Any]]] = {}
    for item in error.errors(include_url=False):
        loc = item.get("loc") or ("arguments",)
        param = str(loc[0])
        if item["type"] in _MISSING:
            missing.append(param)
        elif item["type"] in _UNKNOWN:
            unknown.append(param)
        else:
            invalid.setdefault(param, []).append(item)
    problems = [
        _describe(param, errors, arguments.get(param), properties.get(param) or {}) for param, errors in invalid.items()
    ]
    hints: list[str] = []
    if missing:
        problems.append(f"{_names(missing)} {'is' if len(missing) == 1 else 'are'} required but missing.")
        hints.append(f"{tool} requires {_names(required or missing)}.")
    if unknown:
        shown = _names([repr(name[:80]) for name in unknown])
        problems.append(f"{tool} has no parameter {shown}.")
        guesses = [
            match[0]
            for name in unknown
            if (match := difflib.get_close_matches(name, list(properties), n=1, cutoff=0.6))
        ]
        hint = f"{tool} takes {_names(list(properties))}." if properties else f"{tool} takes no parameters."
        if guesses:
            hint += f" Did you mean {_names(guesses)}?"
        hints.append(hint)
    if invalid and not hints:
        hints.append(_fix_hint(tool, invalid, properties))
    return InvalidArgumentError(" ".join(problems) or f"The arguments of {tool} are invalid.", hint=" ".join(hints))


__all__ = ["invalid_arguments"]
