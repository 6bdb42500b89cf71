"""Attachments through send_message: paths inside the repository, WebP images inlined or stored, archive copies,
and the directories the server never reads files from."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from PIL import Image
from sqlalchemy import text

import db_kit
from gitrepo import init_repo
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import get_session


def png(size: tuple[int, int], *, mode: str = "RGBA", noisy: bool = False) -> bytes:
    """Return PNG bytes: a flat half-transparent square, or random noise (which compresses badly)."""
    if noisy:
        img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        img = Image.new(mode, size, (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def repo(isolated_env, isolated_git) -> Path:
    """The project: a Git work tree holding two images, a text file and a symlink leading out of it."""
    root = init_repo(isolated_env["tmp_path"] / "repo", files={}, commit=False)
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "tiny.png").write_bytes(png((4, 4)))
    (root / "docs" / "big.png").write_bytes(png((64, 64), noisy=True))
    (root / "notes.txt").write_text("release notes\n")
    (isolated_env["tmp_path"] / "outside.png").write_bytes(png((4, 4)))
    (root / "link.png").symlink_to(isolated_env["tmp_path"] / "outside.png")
    return root


@pytest.fixture
async def client(repo):
    async with Client(build_mcp_server()) as c:
        project = (await c.call_tool("ensure_project", {"human_key": str(repo)})).data
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": str(repo), "program": "p", "model": "m", "name": name})
        c.slug = project["slug"]  # type: ignore[attr-defined]
        yield c


async def send(client, repo: Path, **extra):
    args = {
        "project_key": str(repo),
        "sender_name": "BlueLake",
        "to": ["RedFox"],
        "subject": "Look",
        "body_md": "See attached.",
        **extra,
    }
    return (await client.call_tool("send_message", args)).data


async def state() -> tuple[int, int, int]:
    async with get_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM attachment_blobs), "
                    "(SELECT count(*) FROM message_recipients)"
                )
            )
        ).one()
    return tuple(row)


def git(*args: str) -> str:
    root = get_settings().storage.root
    return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=True).stdout


async def test_small_image_is_inlined_as_webp_keeping_alpha(client, repo):
    result = await send(client, repo, attachment_paths=["docs/tiny.png"], body_md="Before ![icon](docs/tiny.png)")
    payload = result["deliveries"][0]["payload"]
    meta = result["attachments"]
    assert [m["type"] for m in meta] == ["inline"]  # the same bytes attached twice are kept once
    assert meta[0]["media_type"] == "image/webp" and (meta[0]["width"], meta[0]["height"]) == (4, 4)
    assert meta[0]["name"] == "tiny.png" and "path" not in meta[0]
    assert payload["body_md"].startswith("Before ![icon](data:image/webp;base64,")
    encoded = payload["body_md"].split("base64,", 1)[1].split(")", 1)[0]
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as img:
        assert img.format == "WEBP" and img.mode == "RGBA"
    assert (await state())[:2] == (1, 0)  # nothing stored for inline images


async def test_palette_transparency_survives(client, repo):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 0
    img.save(repo / "palette.png", transparency=0)
    meta = (await send(client, repo, attachment_paths=["palette.png"]))["attachments"][0]
    body = (
        await client.call_tool(
            "fetch_inbox", {"project_key": str(repo), "agent_name": "RedFox", "include_bodies": True}
        )
    ).structured_content["result"][0]
    data = base64.b64decode(body["body_md"].split("base64,", 1)[1].split(")", 1)[0])
    with Image.open(io.BytesIO(data)) as webp:
        assert webp.mode == "RGBA" and webp.getpixel((0, 0))[3] == 0
    assert meta["type"] == "inline"


async def test_large_image_and_file_are_stored_in_the_archive(client, repo):
    result = await send(client, repo, attachment_paths=["docs/big.png", str(repo / "notes.txt")])
    image, notes = result["attachments"]
    prefix = f"projects/{client.slug}/attachments/"
    assert image["type"] == "file" and image["media_type"] == "image/webp" and image["path"].startswith(prefix)
    assert image["path"].endswith(f"{image['sha256'][:2]}/{image['sha256']}.webp")
    assert (image["width"], image["height"]) == (64, 64)
    assert notes == {
        "type": "file",
        "media_type": "text/plain",
        "bytes": 14,
        "sha256": notes["sha256"],
        "name": "notes.txt",
        "path": f"{prefix}{notes['sha256'][:2]}/{notes['sha256']}.txt",
    }
    assert f"![big.png](/{image['path']})" in result["deliveries"][0]["payload"]["body_md"]

    flush_pending()
    root = Path(get_settings().storage.root)
    stored = (root / image["path"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == image["sha256"] and len(stored) == image["bytes"]
    assert (root / notes["path"]).read_text() == "release notes\n"
    tracked = git("ls-files").splitlines()
    assert image["path"] in tracked and notes["path"] in tracked
    assert git("status", "--porcelain", "--untracked-files=all") == ""
    # The same file again is stored once.
    await send(client, repo, attachment_paths=["notes.txt"])
    assert (await state())[1] == 2


async def test_body_image_missing_is_left_as_written(client, repo):
    result = await send(client, repo, body_md="![x](docs/missing.png) and ![web](https://example.com/a.png)")
    payload = result["deliveries"][0]["payload"]
    assert payload["body_md"] == "![x](docs/missing.png) and ![web](https://example.com/a.png)"
    assert "not found" in result["notices"][0] and "attachments" not in result


@pytest.mark.parametrize(
    ("paths", "body", "pattern"),
    [
        (["../outside.png"], "b", r"^INVALID_ARGUMENT: Attachment '../outside.png' is outside the project"),
        (["docs/../../outside.png"], "b", r"^INVALID_ARGUMENT: .*outside the project"),
        (["/etc/passwd"], "b", r"^INVALID_ARGUMENT: Attachment '/etc/passwd' is outside the project"),
        (["link.png"], "b", r"^INVALID_ARGUMENT: Attachment 'link.png' is outside the project"),
        ([".git/config"], "b", r"^INVALID_ARGUMENT: Attachment '.git/config' is inside the repository's Git"),
        (["docs/../.git/HEAD"], "b", r"^INVALID_ARGUMENT: .*Git metadata"),
        (None, "![x](.git/HEAD)", r"^INVALID_ARGUMENT: .*Git metadata"),
        (None, "![x](../outside.png)", r"^INVALID_ARGUMENT: .*outside the project"),
        (["docs/nope.png"], "b", r"^NOT_FOUND: Attachment 'docs/nope.png' not found"),
        (["docs"], "b", r"^INVALID_ARGUMENT: Attachment 'docs' is not a regular file"),
        ([""], "b", r"^INVALID_ARGUMENT: attachment_paths\[0\]"),
    ],
)
async def test_paths_outside_the_project_are_refused(client, repo, paths, body, pattern):
    before = await state()
    with pytest.raises(ToolError, match=pattern):
        await send(client, repo, attachment_paths=paths, body_md=body)
    assert await state() == before


async def test_size_limit_and_absolute_paths_setting(client, repo, monkeypatch):
    monkeypatch.setenv("ATTACHMENT_MAX_BYTES", "10")
    clear_settings_cache()
    before = await state()
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: Attachment 'notes.txt' is 14 bytes; the limit is 10"):
        await send(client, repo, attachment_paths=["notes.txt"])
    assert await state() == before

    monkeypatch.setenv("ATTACHMENT_MAX_BYTES", "1000000")
    monkeypatch.setenv("ALLOW_ABSOLUTE_ATTACHMENT_PATHS", "true")
    clear_settings_cache()
    other = init_repo(repo.parent / "other", files={}, commit=False)
    (other / "outside.png").write_bytes(png((4, 4)))
    sent = await send(client, repo, attachment_paths=[str(other / "outside.png")])
    assert sent["attachments"][0]["type"] == "inline"
    before = await state()
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*outside the project"):
        await send(client, repo, attachment_paths=["../outside.png"])
    # Even then, a file must lie in a Git work tree or under ATTACHMENT_ROOTS, never in a system directory.
    for path in ("/etc/passwd", str(repo.parent / "outside.png"), str(other / ".git" / "config")):
        with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: Attachment .*(outside any other source|\.git)"):
            await send(client, repo, attachment_paths=[path])
    assert await state() == before


async def test_convert_images_off_stores_the_original(client, repo):
    meta = (await send(client, repo, attachment_paths=["docs/tiny.png"], convert_images=False))["attachments"][0]
    assert meta["type"] == "file" and meta["media_type"] == "image/png" and meta["path"].endswith(".png")


# --- where files may come from ------------------------------------------------------------------------------------


async def stored_bytes() -> list[bytes]:
    """Every stored blob and every message's attachments JSON, to look for leaked file content."""
    async with get_session() as session:
        blobs = (await session.execute(text("SELECT data FROM attachment_blobs"))).scalars().all()
        metas = (await session.execute(text("SELECT attachments FROM messages"))).scalars().all()
    return [bytes(b) for b in blobs] + [str(m).encode() for m in metas]


async def project_with_agents(client, key: str) -> None:
    await client.call_tool("ensure_project", {"human_key": key})
    for name in ("BlueLake", "RedFox"):
        await client.call_tool("register_agent", {"project_key": key, "program": "p", "model": "m", "name": name})


def mailbox_directory() -> str:
    """How a refusal names the test's temporary directory: the SQLite file's directory, or (on a database server)
    the mailbox's data directory inside it."""
    return "the directory of the mailbox database" if db_kit.on_sqlite() else "the mailbox's data directory"


def refused_projects(tmp: Path, home: Path) -> dict[str, tuple[str, str, str]]:
    """Project directory, a file to attach relative to it, and the reason expected in the refusal."""
    return {
        "file system root": ("/", "etc/passwd", "is or contains the file system root"),
        "system directory": ("/etc", "passwd", "is or contains the system directory /etc"),
        "inside a system directory": ("/proc/self", "environ", "lies inside the system directory /proc"),
        "ancestor of the mailbox": (str(tmp), "test.sqlite3", "is or contains the directory of the mailbox database"),
        "home directory": (str(home), "notes.txt", "is or contains the home directory"),
        "archive": (str(tmp / "storage"), ".gitattributes", "is or contains the mailbox's archive"),
        "data directory": (str(tmp / "home"), "secret.txt", "the mailbox's data directory"),
        "plain directory": (str(tmp / "plain"), "notes.txt", "neither the top of a Git work tree"),
        "inside a work tree": (str(tmp / "repo" / "docs"), "tiny.png", "neither the top of a Git work tree"),
        "symlink to /etc": (str(tmp / "etc-link"), "passwd", "is or contains the system directory /etc"),
    }


@pytest.fixture
def hazards(isolated_env, repo, monkeypatch) -> dict[str, tuple[str, str, str]]:
    """Directories that look like projects but must never give files: each holds the file to attach."""
    tmp = isolated_env["tmp_path"]
    home = init_repo(tmp / "user-home", files={"notes.txt": "private\n"}, commit=False)
    monkeypatch.setenv("HOME", str(home))
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "home" / "secret.txt").write_text("mailbox secret\n")
    init_repo(tmp / "home", files={}, commit=False)  # even a Git work tree is refused there
    (tmp / "plain").mkdir()
    (tmp / "plain" / "notes.txt").write_text("plain\n")
    (tmp / "etc-link").symlink_to("/etc")
    flush_pending()  # the archive exists and is a Git work tree
    clear_settings_cache()
    return refused_projects(tmp, home)


@pytest.mark.parametrize(
    "case",
    [
        "file system root",
        "system directory",
        "inside a system directory",
        # Only a SQLite mailbox has a directory of its own; the data directory case covers a database server.
        pytest.param("ancestor of the mailbox", marks=pytest.mark.sqlite_only),
        "home directory",
        "archive",
        "data directory",
        "plain directory",
        "inside a work tree",
        "symlink to /etc",
    ],
)
async def test_files_are_never_read_from_system_home_mailbox_or_non_git_directories(client, hazards, case):
    project, path, reason = hazards[case]
    await project_with_agents(client, project)
    before, leaked = await state(), await stored_bytes()
    with pytest.raises(ToolError) as refused:
        await send(client, Path(project), attachment_paths=[path])
    message = str(refused.value)
    assert message.startswith("INVALID_ARGUMENT: Files cannot be attached from this project's directory: ")
    assert reason in message and "Hint: " in message and "ATTACHMENT_ROOTS" in message
    assert await state() == before and await stored_bytes() == leaked
    flush_pending()
    assert "attachments/" not in git("ls-files")


async def test_attachment_roots_admit_a_plain_directory_but_never_a_forbidden_one(client, isolated_env, monkeypatch):
    tmp = isolated_env["tmp_path"]
    plain = tmp / "shared" / "plain"
    plain.mkdir(parents=True)
    (plain / "notes.txt").write_text("plain notes\n")
    await project_with_agents(client, str(plain))
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*neither the top of a Git work tree"):
        await send(client, plain, attachment_paths=["notes.txt"])

    monkeypatch.setenv("ATTACHMENT_ROOTS", f" relative/dir , {tmp / 'shared'} ")
    clear_settings_cache()
    meta = (await send(client, plain, attachment_paths=["notes.txt"]))["attachments"][0]
    assert (meta["name"], meta["bytes"]) == ("notes.txt", len("plain notes\n"))

    monkeypatch.setenv("ATTACHMENT_ROOTS", "/")
    clear_settings_cache()
    await project_with_agents(client, "/")
    before = await state()
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*'/' is or contains the file system root"):
        await send(client, Path("/"), attachment_paths=["etc/passwd"])
    assert await state() == before


async def test_body_images_from_a_refused_directory_are_left_as_written(client, isolated_env, repo):
    tmp = isolated_env["tmp_path"]
    await project_with_agents(client, str(tmp))
    body = "Look: ![icon](repo/docs/tiny.png)"
    result = await send(client, tmp, body_md=body)
    assert result["deliveries"][0]["payload"]["body_md"] == body and "attachments" not in result
    assert "left as written" in result["notices"][0] and mailbox_directory() in result["notices"][0]
    assert (await state())[1] == 0
    # The same reference from the repository itself is inlined.
    inlined = await send(client, repo, body_md="Look: ![icon](docs/tiny.png)")
    assert "data:image/webp;base64," in inlined["deliveries"][0]["payload"]["body_md"]


async def test_a_linked_work_tree_is_a_source(client, repo, isolated_env):
    init_repo(repo, files={"README.md": "readme\n"})  # the worktree needs a commit to start from
    linked = repo.parent / "linked"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(linked)], check=True, capture_output=True)
    assert (linked / ".git").is_file()
    await project_with_agents(client, str(linked))
    meta = (await send(client, linked, attachment_paths=["README.md"]))["attachments"][0]
    assert (meta["name"], meta["bytes"]) == ("README.md", 7)
