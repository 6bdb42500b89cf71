"""Attachments in the web UI: served as stored, raster images inline, everything else a sandboxed download."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.requests import Request
from web_kit import web_client

from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.web.app import build_web_app
from mcp_agent_mail.web.markdown import render_markdown
from mcp_agent_mail.web.pages.attachments import attachment_image_urls, disposition

HTML_PAYLOAD = b"<html><script>alert(document.cookie)</script></html>"
SVG_PAYLOAD = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


def png_bytes(size: int = 64) -> bytes:
    """A noisy PNG, so that its WebP is larger than the tests' INLINE_IMAGE_MAX_BYTES and stored as a file."""
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(out, "PNG")
    return out.getvalue()


def tiny_png() -> bytes:
    """A one-colour PNG whose WebP is small enough to be inlined in the body."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


class Sent:
    """A project in a Git work tree and one message carrying files, plus one with an inline image."""

    def __init__(self, slug: str, files_message: dict[str, Any], inline_message: dict[str, Any]) -> None:
        self.slug = slug
        self.files = files_message
        self.inline = inline_message

    def url(self, message_id: int | str, index: int | str, slug: str | None = None) -> str:
        return f"/mail/projects/{slug or self.slug}/messages/{message_id}/attachments/{index}"


@pytest.fixture
async def sent(isolated_env, code_repo: Path) -> Sent:
    (code_repo / "docs").mkdir()
    (code_repo / "docs" / "chart.png").write_bytes(png_bytes())
    (code_repo / "docs" / "dot.png").write_bytes(tiny_png())
    (code_repo / "docs" / "page.html").write_bytes(HTML_PAYLOAD)
    (code_repo / "docs" / "logo.svg").write_bytes(SVG_PAYLOAD)
    (code_repo / "docs" / "notes ü.txt").write_bytes(b"plain notes")
    key = str(code_repo)
    slug = (await ensure_project(key))["slug"]
    await register_agent(key, "pytest", "m", name="BlueLake")
    await register_agent(key, "pytest", "m", name="RedFox", attachments_policy="inline")
    for name in ("BlueLake", "RedFox"):
        await set_contact_policy(key, name, "open")
    files = await send_message(
        key,
        "BlueLake",
        ["RedFox"],
        "Files",
        "See attached.",
        attachment_paths=["docs/chart.png", "docs/page.html", "docs/logo.svg", "docs/notes ü.txt"],
    )
    inline = await send_message(key, "RedFox", ["BlueLake"], "Inline", "![tiny](docs/dot.png)")
    return Sent(slug, files["deliveries"][0]["payload"], inline["deliveries"][0]["payload"])


def _index(payload: dict[str, Any], name: str) -> int:
    return next(i for i, meta in enumerate(payload["attachments"]) if meta["name"] == name)


async def test_a_stored_image_is_served_inline_as_an_image(local_app, sent):
    meta_index = _index(sent.files, "chart.png")
    meta = sent.files["attachments"][meta_index]
    async with web_client(local_app) as client:
        answer = await client.get(sent.url(sent.files["id"], meta_index))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/webp"
    assert answer.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in answer.headers.get_list("content-security-policy")
    assert "nosniff" in answer.headers["x-content-type-options"]
    assert hashlib.sha256(answer.content).hexdigest() == meta["sha256"]


@pytest.mark.parametrize("name", ["page.html", "logo.svg", "notes ü.txt"])
async def test_anything_else_is_a_sandboxed_download(local_app, sent, name):
    index = _index(sent.files, name)
    async with web_client(local_app) as client:
        answer = await client.get(sent.url(sent.files["id"], index))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    disposition_value = answer.headers["content-disposition"]
    assert disposition_value.startswith("attachment;") and "filename*=UTF-8''" in disposition_value
    assert "sandbox" in answer.headers.get_list("content-security-policy")
    assert "nosniff" in answer.headers["x-content-type-options"]
    if name == "page.html":
        assert answer.content == HTML_PAYLOAD


async def test_an_inline_image_is_served_from_the_body(local_app, sent):
    (meta,) = sent.inline["attachments"]
    assert meta["type"] == "inline"
    async with web_client(local_app) as client:
        answer = await client.get(sent.url(sent.inline["id"], 0))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/webp"
    assert hashlib.sha256(answer.content).hexdigest() == meta["sha256"]


@pytest.mark.parametrize(
    ("message", "index", "status"),
    [
        ("files", "99", 404),
        ("files", "-1", 400),
        ("files", "first", 400),
        ("files", "1.0", 400),
        ("none", "0", 404),
        ("text", "0", 400),
    ],
)
async def test_bad_or_missing_attachments(local_app, sent, message, index, status):
    message_id = {"files": sent.files["id"], "none": 999_999, "text": "abc"}[message]
    async with web_client(local_app) as client:
        answer = await client.get(sent.url(message_id, index))
    assert answer.status_code == status
    assert "text/html" in answer.headers["content-type"]


async def test_only_attachments_of_the_projects_messages(local_app, sent):
    other = (await ensure_project("/work/attachments-elsewhere"))["slug"]
    async with web_client(local_app) as client:
        elsewhere = await client.get(sent.url(sent.files["id"], 0, slug=other))
        unknown = await client.get(sent.url(sent.files["id"], 0, slug="no-such-project"))
    assert elsewhere.status_code == 404 and unknown.status_code == 404


async def test_a_message_body_points_its_images_at_the_route(local_app, sent):
    web = build_web_app()
    scope = {
        "type": "http",
        "router": web.router,
        "root_path": "/mail",
        "path": "/mail/",
        "headers": [],
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 8765),
    }
    stored = next(m for m in sent.files["attachments"] if m["name"] == "chart.png")
    assert stored["type"] == "file"
    urls = attachment_image_urls(Request(scope), sent.slug, sent.files["id"], sent.files["attachments"])
    index = _index(sent.files, "chart.png")
    expected = f"/mail/projects/{sent.slug}/messages/{sent.files['id']}/attachments/{index}"
    assert urls["/" + stored["path"]] == expected
    html = str(render_markdown(f"![chart](/{stored['path']})", image_urls=urls))
    assert f'src="{expected}"' in html


def test_the_disposition_names_files_safely():
    value = disposition("attachment", 'a"b\\c/\r\nd ü.txt')
    assert re.fullmatch(r"attachment; filename=\"[A-Za-z0-9._ -]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+", value)
    assert value.endswith("filename*=UTF-8''a_b_c_d%20%C3%BC.txt")
