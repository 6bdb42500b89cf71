"""Add, update or remove one server entry in a JSON / JSONC file by editing only its span.

Everything outside the edited member keeps its bytes: other entries, comments,
indentation, line endings, trailing-comma style. The new member follows the
indentation of its neighbours. Removing a member that was added here, when
nothing else changed, gives back the original text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_agent_mail.errors import AgentMailError, ConfigurationError
from mcp_agent_mail.services.integrate.jsonc import Document, Member, Node, parse

ContainerPath = Callable[[Any], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Edit:
    """The text after an edit and what happened: ``added``, ``updated``, ``unchanged``, ``removed`` or ``absent``.

    ``created`` lists the keys of the servers object's path that the edit had to create (outermost first).
    """

    text: str
    status: str
    created: tuple[str, ...] = ()


def newline_of(text: str) -> str:
    """Return the line ending a file uses (CRLF when it has any, else LF)."""
    return "\r\n" if "\r\n" in text else "\n"


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _indent_of_line(text: str, index: int) -> str:
    start = _line_start(text, index)
    line = text[start:index]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _own_line(text: str, index: int) -> bool:
    return not text[_line_start(text, index) : index].strip(" \t\ufeff")


def _break_before(text: str, index: int) -> int:
    """Return the index of the line break that ends the line before the one holding ``index``."""
    brk = text.rfind("\n", 0, index)
    return brk - 1 if brk > 0 and text[brk - 1] == "\r" else brk


def _unit(doc: Document) -> str:
    """Guess one level of indentation from the root object's first member (two spaces when it has none)."""
    root, text = doc.root, doc.text
    for member in root.members:
        if _own_line(text, member.key_start):
            indent = _indent_of_line(text, member.key_start)
            base = _indent_of_line(text, root.start)
            if indent.startswith(base) and len(indent) > len(base):
                return indent[len(base) :]
            break
    return "\t" if "\n\t" in text else "  "


def render(value: Any, indent: str, unit: str, nl: str) -> str:
    """Return ``value`` as pretty JSON whose continuation lines start with ``indent`` (lists of scalars on one line)."""
    inner = indent + unit
    if isinstance(value, dict) and value:
        members = [
            f"{nl}{inner}{json.dumps(k, ensure_ascii=False)}: {render(v, inner, unit, nl)}" for k, v in value.items()
        ]
        return "{" + ",".join(members) + nl + indent + "}"
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        return "[" + ",".join(f"{nl}{inner}{render(item, inner, unit, nl)}" for item in value) + nl + indent + "]"
    return _compact(value) if isinstance(value, list) else json.dumps(value, ensure_ascii=False)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _after_line_content(doc: Document, pos: int, close: int) -> int:
    """Return where a new line may be inserted after ``pos``: before the line break, past same-line comments."""
    text, i = doc.text, pos
    while i < close:
        char = text[i]
        if char in " \t":
            i += 1
        elif char in "\r\n":
            return i
        elif (end := doc.comment_end(i)) is not None:
            i = end
        else:
            return pos
    return pos


def _insert(doc: Document, obj: Node, key: str, value: Any) -> str:
    text = doc.text
    nl, unit = newline_of(text), _unit(doc)
    key_json = json.dumps(key, ensure_ascii=False)
    outer = _indent_of_line(text, obj.start)
    close = obj.end - 1
    if not obj.members:
        if doc.root.members and "\n" not in text.strip():
            return text[:close].rstrip(" \t") + f"{key_json}: {_compact(value)}" + text[close:]
        indent = outer + unit
        body = f"{key_json}: {render(value, indent, unit, nl)}"
        brk = _break_before(text, close)
        if brk > obj.start and not doc.in_comment(brk):
            return text[:brk] + nl + indent + body + text[brk:]
        return text[:close].rstrip(" \t") + nl + indent + body + nl + outer + text[close:]
    first, last = obj.members[0], obj.members[-1]
    trailing = last.comma is not None
    if _own_line(text, first.key_start):
        indent = _indent_of_line(text, first.key_start)
        pos = last.comma + 1 if last.comma is not None else last.value.end
        at = _after_line_content(doc, pos, close)
        piece = f"{nl}{indent}{key_json}: {render(value, indent, unit, nl)}{',' if trailing else ''}"
        if trailing:
            return text[:at] + piece + text[at:]
        return text[:pos] + "," + text[pos:at] + piece + text[at:]
    if last.comma is not None:
        return text[: last.comma + 1] + f" {key_json}: {_compact(value)}," + text[last.comma + 1 :]
    return text[: last.value.end] + f", {key_json}: {_compact(value)}" + text[last.value.end :]


def _replace(doc: Document, member: Member, value: Any) -> str:
    text = doc.text
    if _own_line(text, member.key_start):
        rendered = render(value, _indent_of_line(text, member.key_start), _unit(doc), newline_of(text))
    else:
        rendered = _compact(value)
    return text[: member.value.start] + rendered + text[member.value.end :]


def _remove(doc: Document, obj: Node, index: int) -> str:
    text = doc.text
    member = obj.members[index]
    end = member.comma + 1 if member.comma is not None else member.value.end
    own = _own_line(text, member.key_start)
    if index + 1 < len(obj.members):
        following = obj.members[index + 1]
        if own and _own_line(text, following.key_start):
            return text[: _line_start(text, member.key_start)] + text[_line_start(text, following.key_start) :]
        return text[: member.key_start] + text[following.key_start :]
    if index == 0:
        cut = _break_before(text, member.key_start) if own else obj.start + 1
        return text[:cut] + text[end:]
    previous = obj.members[index - 1]
    assert previous.comma is not None
    if own:
        brk = _break_before(text, member.key_start)
        if member.comma is not None:
            return text[:brk] + text[end:]
        return text[: previous.comma] + text[previous.comma + 1 : brk] + text[end:]
    if member.comma is not None:
        return text[: previous.comma + 1] + text[end:]
    return text[: previous.value.end] + text[end:]


def _walk(doc: Document, path: tuple[str, ...], source: str) -> tuple[Node, tuple[str, ...]]:
    """Return the deepest existing object along ``path`` and the keys still missing below it."""
    node = doc.root
    if node.kind != "object":
        raise ConfigurationError(
            f"{source} does not hold a JSON object at the top.",
            hint="Fix the file (or move it aside), then run the command again; nothing was changed.",
        )
    for depth, key in enumerate(path):
        member = node.member(key)
        if member is None:
            return node, path[depth:]
        if member.value.kind != "object":
            where = ".".join(path[: depth + 1])
            raise ConfigurationError(
                f"{source}: '{where}' is not a JSON object.",
                hint=f"Make '{where}' an object of servers (or remove it), then run the command again.",
            )
        node = member.value
    return node, ()


def _nest(keys: tuple[str, ...], value: Any) -> Any:
    for key in reversed(keys):
        value = {key: value}
    return value


def _wanted(existing: Any, desired: dict[str, Any], owned: frozenset[str]) -> dict[str, Any] | None:
    """Return the entry to write, or None when ``existing`` already says what ``desired`` says."""
    if not isinstance(existing, dict):
        return desired
    extras = {k: v for k, v in existing.items() if k not in owned and k not in desired}
    merged = {**desired, **extras}
    return None if existing == merged else merged


def upsert(
    text: str | None,
    container: ContainerPath,
    name: str,
    entry: dict[str, Any],
    *,
    source: str,
    allow_comments: bool,
    owned_keys: frozenset[str],
) -> Edit:
    """Add ``entry`` under ``name`` in the servers object (``container`` of the document's value) of ``text``.

    Keys of an existing entry that are not in ``owned_keys`` (settings the user added) are kept.
    ``text`` None or blank means a new file.
    """
    if text is None or not text.strip():
        path = container({})
        nl = newline_of(text or "")
        return Edit(render(_nest(path, {name: entry}), "", "  ", nl) + nl, "added")
    doc = parse(text, source=source, allow_comments=allow_comments)
    path = container(doc.value(doc.root) if doc.root.kind == "object" else None)
    node, missing = _walk(doc, path, source)
    if missing:
        result = Edit(_insert(doc, node, missing[0], _nest(missing[1:], {name: entry})), "added", missing)
        wanted: dict[str, Any] = entry
    else:
        member = node.member(name)
        if member is None:
            result, wanted = Edit(_insert(doc, node, name, entry), "added"), entry
        else:
            merged = _wanted(doc.value(member.value), entry, owned_keys)
            if merged is None:
                return Edit(text, "unchanged")
            result, wanted = Edit(_replace(doc, member, merged), "updated"), merged
    _check(result.text, path, name, wanted, source, allow_comments)
    return result


def remove(
    text: str,
    container: ContainerPath,
    name: str,
    *,
    source: str,
    allow_comments: bool,
    created: tuple[str, ...] = (),
) -> Edit:
    """Remove the entry ``name`` from the servers object of ``text`` (``absent`` when it is not there).

    ``created`` is what :func:`upsert` reported creating: those objects go too when nothing else is left in them.
    """
    if not text.strip():
        return Edit(text, "absent")
    doc = parse(text, source=source, allow_comments=allow_comments)
    path = container(doc.value(doc.root) if doc.root.kind == "object" else None)
    node, missing = _walk(doc, path, source)
    if missing:
        return Edit(text, "absent")
    indexes = [i for i, member in enumerate(node.members) if member.key == name]
    if not indexes:
        return Edit(text, "absent")
    edited = text
    for index in reversed(indexes):
        current = parse(edited, source=source, allow_comments=allow_comments)
        edited = _remove(current, _walk(current, path, source)[0], index)
    edited = _prune(edited, path, created, source, allow_comments)
    _check(edited, path, name, None, source, allow_comments)
    return Edit(edited, "removed")


def _prune(text: str, path: tuple[str, ...], created: tuple[str, ...], source: str, allow_comments: bool) -> str:
    """Remove the objects an earlier upsert created along ``path`` when they hold nothing else now."""
    if not created or path[len(path) - len(created) :] != created:
        return text
    doc = parse(text, source=source, allow_comments=allow_comments)
    parent, missing = _walk(doc, path[: len(path) - len(created)], source)
    if missing:
        return text
    indexes = [i for i, member in enumerate(parent.members) if member.key == created[0]]
    if len(indexes) != 1 or doc.value(parent.members[indexes[0]].value) != _nest(created[1:], {}):
        return text
    return _remove(doc, parent, indexes[0])


def _check(text: str, path: tuple[str, ...], name: str, wanted: Any, source: str, allow_comments: bool) -> None:
    """Re-read the edited text and make sure it holds exactly the intended entry (or none)."""
    doc = parse(text, source=source, allow_comments=allow_comments)
    node, missing = _walk(doc, path, source)
    member = None if missing else node.member(name)
    found = None if member is None else doc.value(member.value)
    if found != wanted:
        raise AgentMailError(
            f"Editing {source} went wrong: the result does not hold the expected entry.",
            hint="Nothing was written. Please report this with a copy of the file.",
        )
