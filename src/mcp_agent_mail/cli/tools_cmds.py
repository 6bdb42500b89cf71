"""``mcp-agent-mail tools``: list the exposed tools and measure what their definitions cost a client."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors

# Targets in approximate tokens (bytes / 4) of the tools/list definitions, per profile.
TARGETS = {"core": 2500, "full": 8000}
MEASURED = (
    "compact JSON (separators ',' ':') of the tool definitions a client receives from tools/list "
    "through an in-memory fastmcp Client: every field of each tool as sent (name, description, "
    "inputSchema, outputSchema, annotations); tokens ~ bytes/4"
)


async def _definitions(profile: str) -> list[dict[str, Any]]:
    from fastmcp import Client

    from mcp_agent_mail.app import build_mcp_server

    async with Client(build_mcp_server(profile, mailbox=False)) as client:
        tools = await client.list_tools()
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in tools]


def tool_definitions(profile: str) -> list[dict[str, Any]]:
    """Return the tool definitions a client lists from a server started with ``profile``."""
    return asyncio.run(_definitions(profile))


def footprint(profile: str) -> dict[str, Any]:
    """Return ``{profile, tools, bytes, tokens}`` for the tools/list definitions of ``profile``."""
    definitions = tool_definitions(profile)
    size = len(json.dumps(definitions, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return {"profile": profile, "tools": len(definitions), "bytes": size, "tokens": round(size / 4)}


def tools(
    stats: Annotated[bool, typer.Option("--stats", help="Print the size of the tool definitions per profile.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="With --stats: exit 1 if core > 2,500 or full > 8,000 tokens.")
    ] = False,
    profile: Annotated[
        str | None, typer.Option("--profile", help="core, full or comma-separated tool names (default TOOLS_PROFILE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the tools a server exposes, or (--stats) what their definitions cost a client in bytes and tokens."""
    if stats or check:
        _print_stats(check, as_json)
        return
    from mcp_agent_mail.config import get_settings

    chosen = profile if profile is not None else get_settings().tools_profile
    definitions = tool_definitions(chosen)
    if as_json:
        typer.echo(json.dumps(definitions, indent=2))
        return
    width = max((len(d["name"]) for d in definitions), default=0)
    for definition in definitions:
        summary = " ".join(definition.get("description", "").split())
        typer.echo(f"{definition['name']:<{width}}  {summary}")


def _print_stats(check: bool, as_json: bool) -> None:
    rows = [{**footprint(name), "target_tokens": target} for name, target in TARGETS.items()]
    over = [row for row in rows if row["bytes"] > 4 * row["target_tokens"]]
    if as_json:
        typer.echo(json.dumps({"measured": MEASURED, "profiles": rows}, indent=2))
    else:
        typer.echo(f"{'profile':<8} {'tools':>5} {'bytes':>7} {'~tokens':>8} {'target':>7}")
        for row in rows:
            mark = "  OVER" if row in over else ""
            typer.echo(
                f"{row['profile']:<8} {row['tools']:>5} {row['bytes']:>7} {row['tokens']:>8} "
                f"{row['target_tokens']:>7}{mark}"
            )
        typer.echo(f"Measured: {MEASURED}.")
    if check and over:
        names = ", ".join(f"{row['profile']} ({row['tokens']} > {row['target_tokens']})" for row in over)
        typer.secho(f"Tool definitions over their token target: {names}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def attach(app: typer.Typer) -> None:
    """Register the ``tools`` command on ``app``."""
    app.command("tools")(handle_errors(tools))
