"""The archive tree at HEAD (services.archive_browse.tree): listings, files, caps, and unsafe paths refused."""

from __future__ import annotations

import os
import time

import pytest
from browse_kit import send_and_flush
from dulwich.objects import Blob, Commit, Tree
from dulwich.refs import HEADREF
from dulwich.repo import Repo

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.archive_browse import tree as tree_module
from mcp_agent_mail.services.archive_browse.tree import browse


def _commit_extra(entries: dict[bytes, tuple[int, bytes]]) -> None:
    """Add top-level entries (a symlink, a binary file) to a new HEAD commit, as a hostile archive might hold."""
    repo = Repo(str(get_settings().storage.root))
    try:
        head = repo.object_store[repo.refs[HEADREF]]
        assert isinstance(head, Commit)
        root = repo.object_store[head.tree]
        assert isinstance(root, Tree)
        for name, (mode, data) in entries.items():
            blob = Blob.from_string(data)
            repo.object_store.add_object(blob)
            root.add(name, mode, blob.id)
        repo.object_store.add_object(root)
        commit = Commit()
        commit.tree, commit.parents = root.id, [head.id]
        commit.author = commit.committer = b"test <t@example.com>"
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = b"test: extra entries"
        repo.object_store.add_object(commit)
        repo.refs[HEADREF] = commit.id
    finally:
        repo.close()


async def test_root_lists_folders_first(slug):
    await send_and_flush("Hello")
    view = await browse(get_settings())
    assert view.kind == "dir" and view.commit is not None
    names = [(e["name"], e["kind"]) for e in view.entries]
    assert names[0] == ("projects", "dir") and (".gitattributes", "file") in names


async def test_a_file_shows_its_text(slug):
    await send_and_flush("Hello world", body="The body.")
    inbox = f"projects/{slug}/agents/RedFox/inbox"
    year = (await browse(get_settings(), inbox)).entries[0]["path"]
    month = (await browse(get_settings(), year)).entries[0]["path"]
    [entry] = (await browse(get_settings(), month + "/")).entries
    view = await browse(get_settings(), entry["path"])
    assert view.kind == "file" and view.text is not None and "The body." in view.text and not view.truncated


async def test_big_files_are_cut_and_binary_files_not_inlined(slug, monkeypatch):
    await send_and_flush("Hello")
    _commit_extra({b"big.txt": (0o100644, "é".encode() * 3000), b"image.bin": (0o100644, b"\x89PNG\x00\x01" * 10)})
    monkeypatch.setattr(tree_module, "FILE_CAP_BYTES", 1001)  # cuts inside a two-byte character
    big = await browse(get_settings(), "big.txt")
    assert big.truncated and big.text == "é" * 500 and big.size == 6000
    binary = await browse(get_settings(), "image.bin")
    assert binary.binary and binary.text is None


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../outside", "projects/../..", "projects/./x", "a//b", "a\\b", "a\x00b", "x\ny"]
)
async def test_unsafe_paths_are_refused(slug, path):
    await send_and_flush("Hello")
    with pytest.raises(InvalidArgumentError):
        await browse(get_settings(), path)


async def test_symbolic_links_are_refused_even_in_the_middle(slug):
    await send_and_flush("Hello")
    _commit_extra({b"link": (0o120000, b"/etc"), b"dirlink": (0o120000, b"projects")})
    listing = {e["name"]: e["kind"] for e in (await browse(get_settings())).entries}
    assert listing["link"] == "link"
    for path in ("link", "link/passwd", "dirlink/anything"):
        with pytest.raises(InvalidArgumentError):
            await browse(get_settings(), path)


async def test_missing_paths_are_not_found(slug):
    await send_and_flush("Hello")
    for path in ("nothing-here", ".gitattributes/below"):
        with pytest.raises(NotFoundError):
            await browse(get_settings(), path)


async def test_listings_page(slug):
    await send_and_flush("Hello")
    first = await browse(get_settings(), page_size=1)
    second = await browse(get_settings(), page=2, page_size=1)
    assert first.has_next and first.entries[0]["name"] != second.entries[0]["name"]


async def test_the_work_tree_is_never_read(slug):
    await send_and_flush("Hello")
    planted = os.path.join(get_settings().storage.root, "untracked.txt")
    with open(planted, "w") as handle:
        handle.write("not committed")
    with pytest.raises(NotFoundError):
        await browse(get_settings(), "untracked.txt")
