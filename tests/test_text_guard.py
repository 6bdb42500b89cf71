"""Lone surrogates in arguments (text_guard): found anywhere in nested values, named by parameter path."""

from __future__ import annotations

import pytest

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.text_guard import INVALID_TEXT_HINT, check_text, find_invalid_text

LONE = "\ud83d"  # the first half of an emoji, without its pair


def test_valid_text_of_any_shape_passes():
    value = {"subject": "Déjà vu 🎉", "to": ["RedFox", "名前"], "n": 3, "nested": ({"ok": None},)}
    assert find_invalid_text(value, "arguments") is None
    check_text(value, "arguments")


@pytest.mark.parametrize(
    ("value", "where", "index"),
    [
        ({"body_md": f"ab{LONE}c"}, "body_md", 2),
        ({"to": ["RedFox", f"x{LONE}"]}, "to[1]", 1),
        ({"meta": {"tags": [{"name": LONE}]}}, "meta.tags[0].name", 0),
        ([f"{LONE}", f"{LONE}"], "[0]", 0),  # the first one is reported
    ],
)
def test_the_first_lone_surrogate_is_located_by_path_and_index(value, where, index):
    found = find_invalid_text(value)
    assert found is not None and (found.where, found.index, found.char) == (where, index, LONE)
    assert f"{where} is not valid Unicode" in found.describe() and "U+D83D" in found.describe()


def test_a_surrogate_in_an_argument_name_is_reported_as_a_name():
    found = find_invalid_text({"meta": {f"k{LONE}": 1}}, "arguments")
    assert found is not None and found.in_key
    assert found.describe().startswith("the name of an argument under arguments.meta is not valid Unicode")


def test_check_text_refuses_with_invalid_argument_and_the_hint():
    with pytest.raises(InvalidArgumentError) as caught:
        check_text({"subject": f"Hi {LONE}"}, "")
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.hint == INVALID_TEXT_HINT
    assert caught.value.message.startswith("subject is not valid Unicode")
