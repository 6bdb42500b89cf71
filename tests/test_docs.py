"""The README documents every setting and every tool the server has."""

from __future__ import annotations

import re
from pathlib import Path

from fastmcp import Client

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import _EnvSettings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    aliases = {field.alias for field in _EnvSettings.model_fields.values() if field.alias}
    missing = sorted(alias for alias in aliases if f"`{alias}`" not in README and f"{alias}`" not in README)
    assert missing == []


async def test_every_tool_is_documented(isolated_env):
    async with Client(build_mcp_server()) as client:
        names = {tool.name for tool in await client.list_tools()}
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert missing == []


async def test_the_resource_list_names_every_resource_with_its_path_parameters(isolated_env):
    async with Client(build_mcp_server()) as client:
        uris = [str(r.uri) for r in await client.list_resources()]
        uris += [t.uriTemplate for t in await client.list_resource_templates()]
    served = {re.sub(r"\{(\w+)\*\}", r"{\1}", uri.split("{?", 1)[0]) for uri in uris}
    documented = {uri.split("{?", 1)[0] for uri in re.findall(r"`(resource://[^`\s]+)`", README)}
    assert served - documented == set(), "served but not in the README"
    assert documented - served == set(), "in the README but not served"
