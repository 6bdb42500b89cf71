"""A JSON / JSON-with-comments parser that keeps the position of every object member.

Client configuration files are edited in place (see :mod:`.json_edit`), so the
parser reports where each value starts and ends, where each member's comma is,
and where the comments are. Values themselves are decoded by the standard
``json`` module from a copy of the text in which comments and trailing commas
are blanked out (same length, so every position still holds).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mcp_agent_mail.errors import ConfigurationError

_TOKEN = re.compile(
    r"""
    (?P<ws>[\ \t\r\n]+)
  | (?P<line_comment>//[^\r\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<literal>true|false|null)
  | (?P<punct>[{}\[\]:,])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    """One significant token: its kind (``string``, ``number``, ``literal`` or the punctuation itself) and span."""

    kind: str
    start: int
    end: int


@dataclass(slots=True)
class Node:
    """A value in the document: ``object``, ``array`` or ``scalar``, spanning ``text[start:end]``."""

    kind: str
    start: int
    end: int
    members: list[Member] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)

    def member(self, key: str) -> Member | None:
        """Return the last member named ``key`` (the one JSON readers keep), or None."""
        found = None
        for member in self.members:
            if member.key == key:
                found = member
        return found


@dataclass(slots=True)
class Member:
    """One ``"key": value`` pair of an object; ``comma`` is the index of the comma after it, if any."""

    key: str
    key_start: int
    value: Node
    comma: int | None = None


@dataclass(slots=True)
class Document:
    """A parsed file: its text, the root value, the comment spans and the trailing-comma positions."""

    text: str
    root: Node
    comments: list[tuple[int, int]]
    trailing_commas: list[int]
    _clean: str

    def value(self, node: Node) -> Any:
        """Return the Python value of ``node``."""
        return json.loads(self._clean[node.start : node.end])

    def in_comment(self, index: int) -> bool:
        """Return whether ``index`` lies inside a comment."""
        return any(start <= index < end for start, end in self.comments)

    def comment_end(self, index: int) -> int | None:
        """Return where the comment starting at ``index`` ends, or None when none starts there."""
        for start, end in self.comments:
            if start == index:
                return end
        return None


def line_col(text: str, index: int) -> tuple[int, int]:
    """Return the 1-based line and column of ``index`` in ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _fail(text: str, index: int, what: str, source: str) -> ConfigurationError:
    line, col = line_col(text, index)
    return ConfigurationError(
        f"{source} is not valid JSON: {what} at line {line}, column {col}.",
        hint="Fix the file (or move it aside), then run the command again; nothing was changed.",
    )


def _tokenize(text: str, source: str) -> tuple[list[Token], list[tuple[int, int]]]:
    tokens: list[Token] = []
    comments: list[tuple[int, int]] = []
    pos, size = (1 if text.startswith("\ufeff") else 0), len(text)
    match = _TOKEN.match
    while pos < size:
        found = match(text, pos)
        if found is None:
            what = "an unterminated comment" if text.startswith("/*", pos) else f"unexpected {text[pos]!r}"
            if text[pos] == '"':
                what = "a malformed string"
            raise _fail(text, pos, what, source)
        kind = found.lastgroup or ""
        end = found.end()
        if kind in ("line_comment", "block_comment"):
            comments.append((pos, end))
        elif kind == "punct":
            tokens.append(Token(text[pos], pos, end))
        elif kind != "ws":
            tokens.append(Token(kind, pos, end))
        pos = end
    return tokens, comments


class _Parser:
    def __init__(self, text: str, tokens: list[Token], source: str) -> None:
        self.text = text
        self.tokens = tokens
        self.source = source
        self.pos = 0
        self.trailing: list[int] = []

    def error(self, what: str) -> ConfigurationError:
        index = self.tokens[self.pos].start if self.pos < len(self.tokens) else len(self.text)
        found = "the end of the file" if self.pos >= len(self.tokens) else repr(self.text_of(self.tokens[self.pos]))
        return _fail(self.text, index, f"expected {what}, found {found}", self.source)

    def text_of(self, token: Token) -> str:
        return self.text[token.start : token.end]

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token is None or token.kind != kind:
            raise self.error(what)
        self.pos += 1
        return token

    def value(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.error("a value")
        if token.kind == "{":
            return self.obj()
        if token.kind == "[":
            return self.array()
        if token.kind in ("string", "number", "literal"):
            self.pos += 1
            return Node("scalar", token.start, token.end)
        raise self.error("a value")

    def obj(self) -> Node:
        opening = self.take("{", "'{'")
        node = Node("object", opening.start, opening.end)
        while True:
            token = self.peek()
            if token is not None and token.kind == "}":
                break
            key = self.take("string", "a quoted key or '}'")
            self.take(":", "':'")
            member = Member(json.loads(self.text_of(key)), key.start, self.value())
            node.members.append(member)
            after = self.peek()
            if after is not None and after.kind == ",":
                member.comma = after.start
                self.pos += 1
                following = self.peek()
                if following is not None and following.kind == "}":
                    self.trailing.append(after.start)
                continue
            break
        node.end = self.take("}", "',' or '}'").end
        return node

    def array(self) -> Node:
        opening = self.take("[", "'['")
        node = Node("array", opening.start, opening.end)
        while True:
            token = self.peek()
            if token is not None and token.kind == "]":
                break
            node.items.append(self.value())
            after = self.peek()
            if after is not None and after.kind == ",":
                self.pos += 1
                following = self.peek()
                if following is not None and following.kind == "]":
                    self.trailing.append(after.start)
                continue
            break
        node.end = self.take("]", "',' or ']'").end
        return node


def parse(text: str, *, source: str, allow_comments: bool = True) -> Document:
    """Parse ``text`` (JSON, or JSONC when ``allow_comments``) into a :class:`Document`.

    ``source`` names the file in error messages. Raises ConfigurationError with the line and
    column of the first problem.
    """
    tokens, comments = _tokenize(text, source)
    parser = _Parser(text, tokens, source)
    root = parser.value()
    if parser.pos != len(tokens):
        raise parser.error("the end of the file")
    if not allow_comments:
        if comments:
            raise _fail(text, comments[0][0], "a comment (this client reads plain JSON)", source)
        if parser.trailing:
            raise _fail(text, parser.trailing[0], "a trailing comma (this client reads plain JSON)", source)
    return Document(text, root, comments, parser.trailing, _blank(text, comments, parser.trailing))


def _blank(text: str, comments: list[tuple[int, int]], trailing: list[int]) -> str:
    """Return ``text`` with the comments and trailing commas replaced by spaces (positions unchanged)."""
    spans = sorted([*comments, *((index, index + 1) for index in trailing)])
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(" " * (end - start))
        last = end
    parts.append(text[last:])
    return "".join(parts)
