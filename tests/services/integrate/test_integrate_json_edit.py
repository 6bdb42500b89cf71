"""In-place edits of JSON / JSONC files: only the entry's span changes, and removal gives the text back."""

from __future__ import annotations

import json

import pytest

from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.services.integrate.json_edit import remove, upsert

ENTRY = {"command": "/bin/mcp-agent-mail", "args": ["stdio"], "env": {"MCP_AGENT_MAIL_HOME": "/data"}}
OWNED = frozenset({"command", "args", "env", "url", "headers"})


def servers(_document: object) -> tuple[str, ...]:
    return ("mcpServers",)


def add(text: str | None, entry: dict = ENTRY, *, comments: bool = True):
    return upsert(text, servers, "mcp-agent-mail", entry, source="f", allow_comments=comments, owned_keys=OWNED)


def take(text: str, created: tuple[str, ...] = ()):
    return remove(text, servers, "mcp-agent-mail", source="f", allow_comments=True, created=created)


ROUND_TRIPS = [
    '{\n  "mcpServers": {\n    "x": {"command": "y"}\n  }\n}\n',
    '{\n  "mcpServers": {\n    "x": {"command": "y"} // why\n  }\n}\n',
    '{\n    "mcpServers": {\n        "x": {},\n    },\n}',
    '{\r\n\t"mcpServers": {\r\n\t\t"x": 1\r\n\t}\r\n}\r\n',
    '{"mcpServers": {"x": 1}, "y": 2}',
    '{"mcpServers": {"x": 1,}, "y": 2}',
    '{\n  "mcpServers": {\n  }\n}',
    '{\n  "theme": "dark" /* keep */\n}\n',
    '{\n  "theme": "dark",\n}\n',
    '{"theme": "dark"}',
    '{\n  "mcpServers": {\n    "a": 1,\n    "b": 2\n  },\n  "z": 0\n}\n',
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_add_keeps_the_rest_and_remove_gives_it_back(text: str) -> None:
    added = add(text)
    assert added.status == "added"
    before = json.loads(_plain(text))
    after = json.loads(_plain(added.text))
    assert after["mcpServers"]["mcp-agent-mail"] == ENTRY
    assert {k: v for k, v in after["mcpServers"].items() if k != "mcp-agent-mail"} == before.get("mcpServers", {})
    rest = {k: v for k, v in before.items() if k != "mcpServers"}
    assert {k: v for k, v in after.items() if k != "mcpServers"} == rest
    assert add(added.text).status == "unchanged"
    assert take(added.text, added.created).text == text


def _plain(text: str) -> str:
    from mcp_agent_mail.services.integrate.jsonc import parse

    doc = parse(text, source="f")
    return json.dumps(doc.value(doc.root))


def test_the_new_entry_follows_the_file_style() -> None:
    crlf = add('{\r\n\t"mcpServers": {\r\n\t\t"x": 1\r\n\t}\r\n}\r\n').text
    assert '\t\t"mcp-agent-mail": {\r\n\t\t\t"command": "/bin/mcp-agent-mail",\r\n\t\t\t"args": ["stdio"],' in crlf
    assert crlf.count("\n") == crlf.count("\r\n")
    comment = add('{\n  "mcpServers": {\n    "x": 1 // why\n  }\n}\n').text
    assert '"x": 1, // why\n    "mcp-agent-mail": {' in comment
    trailing = add('{\n  "mcpServers": {\n    "x": 1,\n  },\n}\n').text
    assert trailing.endswith("      }\n    },\n  },\n}\n")


def test_new_and_empty_files() -> None:
    assert json.loads(add(None).text) == {"mcpServers": {"mcp-agent-mail": ENTRY}}
    assert json.loads(add("  \n").text) == {"mcpServers": {"mcp-agent-mail": ENTRY}}
    created = add("{}")
    assert created.created == ("mcpServers",) and json.loads(created.text)["mcpServers"]["mcp-agent-mail"] == ENTRY


def test_update_replaces_only_the_entry_and_keeps_user_keys() -> None:
    text = '{\n  // mine\n  "mcpServers": {\n    "mcp-agent-mail": {"command": "/old", "alwaysAllow": ["x"]}\n  }\n}\n'
    updated = add(text)
    assert updated.status == "updated"
    assert updated.text.startswith('{\n  // mine\n  "mcpServers": {\n    "mcp-agent-mail": {\n      "command": "/bin')
    assert _value(updated.text) == {**ENTRY, "alwaysAllow": ["x"]}
    http = add(updated.text, {"url": "http://h/mcp/", "headers": {"Authorization": "Bearer t"}})
    assert _value(http.text) == {"url": "http://h/mcp/", "headers": {"Authorization": "Bearer t"}, "alwaysAllow": ["x"]}


def _value(text: str) -> dict:
    return json.loads(_plain(text))["mcpServers"]["mcp-agent-mail"]


def test_removing_the_first_or_a_middle_entry() -> None:
    text = '{\n  "mcpServers": {\n    "mcp-agent-mail": {},\n    "b": 2\n  }\n}\n'
    assert take(text).text == '{\n  "mcpServers": {\n    "b": 2\n  }\n}\n'
    assert take('{"mcpServers": {"mcp-agent-mail": 1, "b": 2}}').text == '{"mcpServers": {"b": 2}}'
    assert take('{"mcpServers": {"b": 2}}').status == "absent"
    assert take('{"other": 1}').status == "absent"


def test_a_servers_key_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'mcpServers' is not a JSON object"):
        add('{"mcpServers": []}')
    with pytest.raises(ConfigurationError, match="does not hold a JSON object at the top"):
        add("[1, 2]")
