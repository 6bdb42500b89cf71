"""The project identity resource: repository facts and the project's stable uid, read without side effects."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastmcp import FastMCP

from mcp_agent_mail.resources._common import json_resource
from mcp_agent_mail.services.identity.project_identity import project_identity


def register(mcp: FastMCP) -> None:
    """Register the identity resource."""

    @json_resource(
        mcp,
        "resource://identity/{project*}",
        name="identity",
        description="A registered project's repository facts: slug, human_key, canonical_path, repo_root, "
        "git_common_dir, branch, worktree_name, core_ignorecase, normalized_remote (host/owner/repo), project_uid "
        "and its source, discovery. project is the slug or the URL-encoded absolute path. Writes nothing.",
    )
    async def identity(project: str) -> dict[str, Any]:
        return await project_identity(project_key_from_uri(project))


def project_key_from_uri(segment: str) -> str:
    """Return the project key a URI segment names: percent-decoded (once more if still encoded), no trailing slash."""
    key = unquote(segment) if "%" in segment else segment
    if "%2f" in key.lower():
        key = unquote(key)
    return key.rstrip("/") or key
