"""The JSONC parser: positions of members, values, and coded errors with line and column."""

from __future__ import annotations

import pytest

from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.services.integrate.jsonc import parse

TEXT = '\ufeff// head\n{\n  "a": [1, 2,], /* x */\n  "b": {"c": "d\\"e"},\n}\n'


def test_members_carry_their_spans_and_values() -> None:
    doc = parse(TEXT, source="f.json")
    a, b = doc.root.members
    assert (a.key, TEXT[a.key_start : a.key_start + 3], TEXT[a.value.start : a.value.end]) == ("a", '"a"', "[1, 2,]")
    assert doc.value(a.value) == [1, 2] and doc.value(b.value) == {"c": 'd"e'}
    assert b.comma is not None and TEXT[b.comma] == ","
    assert doc.value(doc.root) == {"a": [1, 2], "b": {"c": 'd"e'}}
    assert [TEXT[s:e] for s, e in doc.comments] == ["// head", "/* x */"]


def test_the_last_duplicate_key_wins_like_json_readers() -> None:
    doc = parse('{"k": 1, "k": 2}', source="f")
    member = doc.root.member("k")
    assert member is not None and doc.value(member.value) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "a": 1\n', "expected ',' or '}', found the end of the file at line 3, column 1"),
        ('{\n  "a" 1\n}', "expected ':', found '1' at line 2, column 7"),
        ("{\n  a: 1\n}", "unexpected 'a' at line 2, column 3"),
        ('{"a": 1} x', "unexpected 'x' at line 1, column 10"),
        ('{"a": /* open', "an unterminated comment at line 1, column 7"),
        ('{"a": "\x01"}', "a malformed string at line 1, column 7"),
    ],
)
def test_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse(text, source="~/x.json")
    assert caught.value.message == f"~/x.json is not valid JSON: {message}."
    assert "nothing was changed" in caught.value.hint


def test_plain_json_refuses_comments_and_trailing_commas() -> None:
    with pytest.raises(ConfigurationError, match=r"a trailing comma \(this client reads plain JSON\) at line 1"):
        parse('{"a": 1,}', source="f", allow_comments=False)
    with pytest.raises(ConfigurationError, match="a comment"):
        parse('{"a": 1} // c', source="f", allow_comments=False)
    assert parse('{"a": 1}', source="f", allow_comments=False).root.members[0].key == "a"
