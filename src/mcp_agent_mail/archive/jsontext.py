"""The archive's JSON text: ``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)``, faster.

The standard library drops to its pure-Python encoder whenever ``indent`` is
set. Archive documents are small trees of dicts with string keys, lists,
strings, integers, booleans and nulls; those are laid out here directly (strings
escaped by the C escaper). Anything else (floats, other key types, custom
objects) goes to ``json.dumps`` itself, so the text is always the same.
"""

from __future__ import annotations

import json
from typing import Any

_escape = json.encoder.encode_basestring


class _Fallback(Exception):
    """Raised when a value needs the standard encoder."""


def dumps(obj: Any) -> str:
    """Return ``obj`` as indented, key-sorted JSON text, identical to the standard library's."""
    parts: list[str] = []
    try:
        _encode(obj, parts, "\n")
    except (_Fallback, RecursionError):
        return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)
    return "".join(parts)


def _encode(value: Any, parts: list[str], newline: str) -> None:
    kind = type(value)
    if kind is str:
        parts.append(_escape(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif kind is int:
        parts.append(int.__repr__(value))
    elif kind is dict:
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key in sorted(value):
            if type(key) is not str:
                raise _Fallback
            parts.append(separator)
            parts.append(_escape(key))
            parts.append(": ")
            _encode(value[key], parts, inner)
            separator = "," + inner
        parts.append(newline + "}")
    elif kind is list:
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            parts.append(separator)
            _encode(item, parts, inner)
            separator = "," + inner
        parts.append(newline + "]")
    else:
        raise _Fallback
