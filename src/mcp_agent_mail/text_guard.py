"""Finding text that is not valid Unicode (lone surrogates) in arguments, before anything stores it.

JSON lets a client write ``"\\ud800"``, and Python then holds a string that no
UTF-8 encoder, SQLite driver or Git archive accepts. Every transport checks the
arguments it received with :func:`find_invalid_text` and refuses them with
INVALID_ARGUMENT naming the parameter (:func:`invalid_text_error`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mcp_agent_mail.errors import InvalidArgumentError

_SURROGATE = re.compile("[\ud800-\udfff]")
INVALID_TEXT_HINT = (
    "Send text as valid UTF-8. A lone surrogate (\\ud800-\\udfff without its pair) comes from a string cut "
    "inside an emoji or from bytes that are not UTF-8; drop or replace that character."
)


@dataclass(frozen=True, slots=True)
class InvalidText:
    """Where a lone surrogate was found: the parameter path, the character index and the character."""

    where: str
    index: int
    char: str
    in_key: bool = False

    def describe(self) -> str:
        """Return a sentence naming the parameter and the offending character."""
        what = (
            f"the name of an argument under {self.where}"
            if self.in_key and self.where
            else ("the name of an argument" if self.in_key else self.where or "the value")
        )
        return (
            f"{what} is not valid Unicode: it holds a lone surrogate (U+{ord(self.char):04X}) "
            f"at character {self.index}."
        )


def _first_surrogate(text: str) -> int | None:
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    return found.start() if found is not None else None


def _child(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def find_invalid_text(value: Any, where: str = "") -> InvalidText | None:
    """Return the first string (or dict key) in ``value`` holding a lone surrogate, or None when all text is valid.

    ``where`` names ``value``; nested items are named ``where.key`` and ``where[index]``.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            index = _first_surrogate(item)
            if index is not None:
                return InvalidText(path, index, item[index])
        elif isinstance(item, dict):
            children: list[tuple[Any, str]] = []
            for key, child in item.items():
                name = str(key)
                index = _first_surrogate(name)
                if index is not None:
                    return InvalidText(path, index, name[index], in_key=True)
                children.append((child, _child(path, name)))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(child, f"{path}[{i}]") for i, child in enumerate(item)]))
    return None


def invalid_text_error(found: InvalidText) -> InvalidArgumentError:
    """Return the INVALID_ARGUMENT error describing ``found``."""
    return InvalidArgumentError(found.describe(), hint=INVALID_TEXT_HINT)


def check_text(value: Any, where: str = "") -> None:
    """Raise INVALID_ARGUMENT when any string in ``value`` holds a lone surrogate."""
    found = find_invalid_text(value, where)
    if found is not None:
        raise invalid_text_error(found)


__all__ = ["INVALID_TEXT_HINT", "InvalidText", "check_text", "find_invalid_text", "invalid_text_error"]
