"""Attachments (services.mail.attachments): finding files in the project, converting images, storing blobs once."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

import db_kit
from gitrepo import init_repo
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import run_write
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail import source_roots
from mcp_agent_mail.services.mail.attachments import (
    MAX_ATTACHMENTS,
    Prepared,
    check_paths,
    has_images,
    locate,
    prepare,
    store_blobs,
    to_webp,
)
from mcp_agent_mail.services.mail.messages import send_message


def _png(path: Path, size: int, *, noisy: bool = False, mode: str = "RGB") -> bytes:
    """Write a PNG (noise does not compress, so a noisy one stays large after conversion)."""
    image = Image.new(mode, (size, size), (200, 40, 40, 128) if mode == "RGBA" else (200, 40, 40))
    if noisy:
        rng = random.Random(size)
        image.putdata([tuple(rng.randrange(256) for _ in mode) for _ in range(size * size)])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
    return path.read_bytes()


def _prepare(body: str, paths: list[str], project_dir: Path, *, convert_images: bool | None = None) -> Prepared:
    return prepare(
        body,
        paths,
        project_dir=str(project_dir),
        slug="proj",
        attachments_policy="auto",
        convert_images=convert_images,
        settings=get_settings(),
    )


def test_attachment_paths_are_non_empty_strings_and_at_most_twenty():
    assert check_paths(None) == [] and check_paths(" docs/a.png ") == ["docs/a.png"]
    for bad in (["ok", " "], ["a\x00b"], [3]):
        with pytest.raises(InvalidArgumentError, match="is empty or not a path"):
            check_paths(bad)
    with pytest.raises(InvalidArgumentError, match=f"at most {MAX_ATTACHMENTS}"):
        check_paths([f"f{n}" for n in range(MAX_ATTACHMENTS + 1)])


def test_markdown_images_are_recognised():
    assert has_images("see ![diagram](docs/d.png) here")
    assert not has_images("a [link](docs/d.png) and `![not closed`")


def test_locate_keeps_reads_inside_the_work_tree(isolated_env, code_repo, tmp_path):
    settings = get_settings()
    root = code_repo.resolve()
    assert locate("src/app.py", root, settings) == root / "src" / "app.py"
    (tmp_path / "secret.txt").write_text("secret")
    (code_repo / "link.txt").symlink_to(tmp_path / "secret.txt")
    for escaping in ("../secret.txt", "link.txt", str(tmp_path / "secret.txt")):
        with pytest.raises(InvalidArgumentError, match="outside the project directory"):
            locate(escaping, root, settings)
    with pytest.raises(InvalidArgumentError, match=r"Git metadata \(.git\)"):
        locate(".git/config", root, settings)
    with pytest.raises(NotFoundError) as missing:
        locate("docs/nothing.png", root, settings)
    assert "relative to the project directory" in (missing.value.hint or "")
    with pytest.raises(InvalidArgumentError, match="not a regular file"):
        locate("src", root, settings)


def test_absolute_paths_may_reach_another_work_tree_only_when_allowed(isolated_env, code_repo, tmp_path, monkeypatch):
    other = init_repo(tmp_path / "other", files={"notes.md": "hello\n"})
    target = str(other / "notes.md")
    with pytest.raises(InvalidArgumentError, match="outside the project directory"):
        locate(target, code_repo.resolve(), get_settings())
    monkeypatch.setenv("ALLOW_ABSOLUTE_ATTACHMENT_PATHS", "true")
    clear_settings_cache()
    assert locate(target, code_repo.resolve(), get_settings()) == (other / "notes.md").resolve()
    (tmp_path / "loose.txt").write_text("not in any work tree")
    with pytest.raises(InvalidArgumentError, match="outside any other source of files"):
        locate(str(tmp_path / "loose.txt"), code_repo.resolve(), get_settings())


def test_small_images_are_inlined_large_ones_stored_and_other_files_kept_as_they_are(isolated_env, code_repo):
    _png(code_repo / "img" / "dot.png", 2)
    noisy = _png(code_repo / "img" / "noise.png", 48, noisy=True)
    (code_repo / "notes.txt").write_text("plain notes\n")
    prepared = _prepare("Look:", ["img/dot.png", "img/noise.png", "notes.txt"], code_repo)
    small, large, text = prepared.metas

    assert small["type"] == "inline" and (small["width"], small["height"]) == (2, 2)
    assert "![dot.png](data:image/webp;base64," in prepared.body_md
    assert large["type"] == "file" and large["media_type"] == "image/webp" and large["bytes"] > 128
    assert large["path"] == f"projects/proj/attachments/{large['sha256'][:2]}/{large['sha256']}.webp"
    assert f"![noise.png](/{large['path']})" in prepared.body_md
    assert (text["media_type"], text["name"]) == ("text/plain", "notes.txt")
    assert text["path"].endswith(".txt") and text["path"] not in prepared.body_md
    blobs = prepared.blobs
    assert set(blobs) == {large["sha256"], text["sha256"]}
    assert blobs[text["sha256"]] == ("text/plain", b"plain notes\n")
    assert blobs[large["sha256"]][1] != noisy  # the stored bytes are the WebP, not the PNG


def test_images_in_the_body_are_resolved_once_and_unusable_ones_left_with_a_notice(isolated_env, code_repo):
    _png(code_repo / "a.png", 2)
    (code_repo / "fake.png").write_text("not an image")
    body = (
        "![one](a.png) ![again](a.png) ![gone](missing.png) ![fake](fake.png) "
        "![web](https://example.com/x.png) ![data](data:image/png;base64,AAAA)"
    )
    prepared = _prepare(body, ["a.png"], code_repo)
    text = prepared.body_md
    assert text.count("data:image/webp;base64,") == 2 and "![one](data:" in text
    assert "![gone](missing.png)" in text and "![fake](fake.png)" in text and "https://example.com/x.png" in text
    notices = prepared.notices
    assert "image 'missing.png' in the body was not found and is left as written." in notices
    assert "'fake.png' in the body is not an image and is left as written." in notices
    # The attached a.png has the same content as the body's: listed once, not appended again.
    assert [m["type"] for m in prepared.metas] == ["inline", "inline"]
    assert prepared.metas[1]["media_type"] == "image/png"

    untouched = _prepare("![one](a.png)", [], code_repo, convert_images=False)
    assert untouched.body_md == "![one](a.png)" and untouched.metas == []


def test_a_directory_that_is_not_a_source_gives_no_files(isolated_env, tmp_path):
    plain = tmp_path / "plain"
    _png(plain / "a.png", 2)
    with pytest.raises(InvalidArgumentError) as caught:
        _prepare("x", ["a.png"], plain)
    assert caught.value.hint == source_roots.HINT
    prepared = _prepare("![a](a.png)", [], plain)
    assert prepared.body_md == "![a](a.png)"
    assert "left as written" in prepared.notices[0]


def test_webp_conversion_keeps_transparency(tmp_path):
    opaque = to_webp(_png(tmp_path / "o.png", 4), "o.png")
    clear = to_webp(_png(tmp_path / "t.png", 4, mode="RGBA"), "t.png")
    palette = Image.new("P", (4, 4))
    palette.info["transparency"] = 0
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=0)
    keyed = to_webp(out.getvalue(), "p.png")
    modes = [Image.open(io.BytesIO(c.data)).mode for c in (opaque, clear, keyed)]
    assert modes == ["RGB", "RGBA", "RGBA"]
    assert opaque.media_type == "image/webp" and (opaque.width, opaque.height) == (4, 4)
    with pytest.raises(InvalidArgumentError, match="cannot be converted"):
        to_webp(b"\x89PNG\r\n\x1a\n broken", "broken.png")


async def test_blobs_are_stored_once_whatever_number_of_messages_carry_them(isolated_env, code_repo):
    project = str(code_repo)
    await ensure_project(project)
    for name in ("BlueLake", "RedFox"):
        await register_agent(project, "pytest", "m", name=name)
    _png(code_repo / "big.png", 48, noisy=True)
    for subject in ("first", "second"):
        await send_message(project, "BlueLake", ["RedFox"], subject, "see attached", attachment_paths=["big.png"])

    [(rows, media)] = db_kit.query("SELECT count(*), min(media_type) FROM attachment_blobs")
    assert (rows, media) == (1, "image/webp")

    data = b"same bytes"
    sha = "a" * 64

    async def twice(session: object) -> None:
        await store_blobs(session, {sha: ("application/octet-stream", data)})
        await store_blobs(session, {sha: ("application/octet-stream", data)})

    await run_write(twice)
    assert db_kit.count("attachment_blobs", "sha256 = :sha", sha=sha) == 1
