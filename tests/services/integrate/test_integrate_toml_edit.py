"""In-place edits of Codex's config.toml with tomlkit."""

from __future__ import annotations

import tomllib

import pytest

from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.services.integrate.toml_edit import remove, upsert

ENTRY = {"command": "/bin/mcp-agent-mail", "args": ["stdio"], "env": {"MCP_AGENT_MAIL_HOME": "/data"}}
OWNED = frozenset({"command", "args", "env", "url", "http_headers"})


def add(text: str | None, entry: dict = ENTRY):
    return upsert(text, "mcp_servers", "mcp-agent-mail", entry, source="config.toml", owned_keys=OWNED)


@pytest.mark.parametrize(
    "text",
    [
        '# top\nmodel = "o3"\n\n[mcp_servers.a]\ncommand = "x" # keep\n\n[profiles.p]\nmodel = "y"\n',
        'model = "o3"\n',
        "",
        "mcp_servers = { }\n",
        'model = "o3"\r\n\r\n[mcp_servers.a]\r\ncommand = "x"\r\n',
    ],
)
def test_add_then_remove(text: str) -> None:
    added = add(text)
    assert added.status == "added"
    assert tomllib.loads(added.text)["mcp_servers"]["mcp-agent-mail"] == ENTRY
    if "\r\n" in text:
        assert added.text.count("\n") == added.text.count("\r\n")
    assert add(added.text).status == "unchanged"
    removed = remove(added.text, "mcp_servers", "mcp-agent-mail", source="config.toml", created=added.created)
    assert tomllib.loads(removed.text) == tomllib.loads(text)
    if "\r\n" not in text:
        assert removed.text == text


def test_switching_transport_drops_the_other_transport_keys() -> None:
    text = add('[mcp_servers.mcp-agent-mail]\ncommand = "/old"\nstartup_timeout_sec = 30\n').text
    http = add(text, {"url": "http://h/mcp/", "http_headers": {"Authorization": "Bearer t"}})
    assert http.status == "updated"
    assert tomllib.loads(http.text)["mcp_servers"]["mcp-agent-mail"] == {
        "url": "http://h/mcp/",
        "http_headers": {"Authorization": "Bearer t"},
        "startup_timeout_sec": 30,
    }


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"config\.toml is not valid TOML"):
        add("model = \n")
    with pytest.raises(ConfigurationError, match="'mcp_servers' is not a table"):
        add('mcp_servers = "x"\n')
