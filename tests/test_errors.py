"""The exception tree: one code per error, one group per error, a module docstring that draws the tree truly."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

import mcp_agent_mail
from mcp_agent_mail import errors
from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.tools._adapter import agent_mail_tool

CLASSES = [
    obj
    for obj in vars(errors).values()
    if inspect.isclass(obj) and issubclass(obj, AgentMailError) and obj.__module__ == errors.__name__
]
GROUPS = [cls for cls in CLASSES if cls.__dict__.get("is_group")]
RAISED = [cls for cls in CLASSES if cls is not AgentMailError and cls not in GROUPS]
LINE = re.compile(r"^(?P<indent> *)[*+\-·] (?P<name>\w+)(?: +(?P<code>[A-Z_]+) (?P<status>\d{3}))?$")


def _docstring_tree() -> dict[str, tuple[str | None, str | None, int | None]]:
    """Read the drawn tree: class name -> (parent name, code, HTTP status)."""
    doc = errors.__doc__ or ""
    tree: dict[str, tuple[str | None, str | None, int | None]] = {}
    stack: list[tuple[int, str]] = []
    for raw in doc.splitlines():
        match = LINE.match(raw.strip("\n").removeprefix("    "))
        if match is None:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        status = int(match["status"]) if match["status"] else None
        tree[match["name"]] = (parent, match["code"], status)
        stack.append((depth, match["name"]))
    return tree


def _groups_of(cls: type) -> list[type]:
    return [base for base in cls.__mro__ if base in GROUPS]


def test_there_are_a_few_groups_and_each_holds_raised_errors():
    assert {g.__name__ for g in GROUPS} == {
        "InputError",
        "RefusedError",
        "ConflictError",
        "BackendError",
        "DataIntegrityError",
    }
    for group in GROUPS:
        assert group.__bases__ == (AgentMailError,), group
        assert "code" not in group.__dict__, f"{group.__name__} is only caught, so it has no code of its own"
        assert any(issubclass(cls, group) for cls in RAISED), group


def test_every_raised_error_has_its_own_code():
    codes = [cls.code for cls in RAISED]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert all("code" in cls.__dict__ for cls in RAISED)
    assert AgentMailError.code not in codes


@pytest.mark.parametrize("cls", RAISED, ids=lambda cls: cls.__name__)
def test_every_raised_error_sits_under_exactly_one_group_and_the_root(cls):
    assert len(_groups_of(cls)) == 1, [g.__name__ for g in _groups_of(cls)]
    assert issubclass(cls, AgentMailError)


def test_the_placement_of_each_error():
    placement = {cls.__name__: _groups_of(cls)[0].__name__ for cls in RAISED}
    assert placement == {
        "InvalidArgumentError": "InputError",
        "PayloadTooLargeError": "InputError",
        "InvalidWindowUuidError": "InputError",
        "InvalidDisplayNameError": "InputError",
        "NotFoundError": "InputError",
        "WindowNotFoundError": "InputError",
        "ConfigurationError": "InputError",
        "UnauthorizedError": "RefusedError",
        "ForbiddenError": "RefusedError",
        "ContactRequiredError": "RefusedError",
        "ContactBlockedError": "RefusedError",
        "AgentRetiredError": "RefusedError",
        "ProjectArchivedError": "RefusedError",
        "RateLimitedError": "RefusedError",
        "FileReservationConflictError": "ConflictError",
        "ReservationActiveError": "ConflictError",
        "ServerRunningError": "ConflictError",
        "UnavailableError": "BackendError",
        "ArchiveError": "DataIntegrityError",
    }


def test_the_older_narrower_relations_still_hold():
    assert issubclass(errors.PayloadTooLargeError, errors.InvalidArgumentError)
    assert issubclass(errors.InvalidWindowUuidError, errors.InvalidArgumentError)
    assert issubclass(errors.InvalidDisplayNameError, errors.InvalidArgumentError)
    assert issubclass(errors.WindowNotFoundError, errors.NotFoundError)


def test_the_module_docstring_draws_the_real_tree():
    tree = _docstring_tree()
    assert set(tree) == {cls.__name__ for cls in CLASSES}
    for cls in CLASSES:
        parent, code, status = tree[cls.__name__]
        expected_parent = None if cls is AgentMailError else cls.__bases__[0].__name__
        assert parent == expected_parent, cls.__name__
        if cls in GROUPS:
            assert (code, status) == (None, None), cls.__name__
        else:
            assert (code, status) == (cls.code, cls.http_status), cls.__name__


def test_every_class_is_exported():
    assert set(errors.__all__) == {cls.__name__ for cls in CLASSES}


@pytest.mark.parametrize("group", GROUPS, ids=lambda cls: cls.__name__)
def test_a_group_cannot_be_raised(group):
    with pytest.raises(TypeError, match="only groups errors"):
        group("what went wrong")


def test_errors_defined_elsewhere_narrow_a_raised_error():
    for info in pkgutil.walk_packages(mcp_agent_mail.__path__, f"{mcp_agent_mail.__name__}."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    seen: list[type] = []
    pending = list(AgentMailError.__subclasses__())
    while pending:
        cls = pending.pop()
        seen.append(cls)
        pending.extend(cls.__subclasses__())
    outside = [cls for cls in seen if cls.__module__ != errors.__name__ and not cls.__module__.startswith("test")]
    assert outside, "LlmError, at least, narrows UnavailableError"
    for cls in outside:
        assert len(_groups_of(cls)) == 1, cls
        assert any(issubclass(cls, raised) for raised in RAISED), cls
        assert cls.code in {raised.code for raised in RAISED}, cls


@pytest.mark.parametrize("cls", RAISED, ids=lambda cls: cls.__name__)
def test_the_text_a_user_sees_starts_with_the_code(cls):
    error = cls("Something specific went wrong.", hint="Do this next.")
    assert error.render() == f"{cls.code}: Something specific went wrong. Hint: Do this next."
    assert error.to_dict() == {"code": cls.code, "message": "Something specific went wrong.", "hint": "Do this next."}
    assert str(error) == "Something specific went wrong."


@pytest.mark.parametrize("cls", RAISED, ids=lambda cls: cls.__name__)
async def test_a_tool_error_text_starts_with_the_code(cls):
    server = FastMCP("errors")

    @agent_mail_tool(server, read_only=True)
    async def fail() -> dict:
        """Fail with the error under test."""
        raise cls("Something specific went wrong.")

    async with Client(server) as client:
        with pytest.raises(ToolError) as caught:
            await client.call_tool("fail", {})
    text = str(caught.value)
    assert text.startswith(f"{cls.code}: Something specific went wrong."), text
    if cls.default_hint:
        assert text.endswith(f" Hint: {cls.default_hint}"), text
