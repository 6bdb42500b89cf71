"""One attachment of a message: found by index in the message's project, or NOT_FOUND."""

from __future__ import annotations

import pytest
from mail_kit import OTHER, PROJECT

from mcp_agent_mail.errors import NotFoundError
from mcp_agent_mail.services.mail.attachment_download import image_paths, message_attachment


def test_image_paths_map_stored_files_to_their_index():
    metas = [
        {"type": "inline", "sha256": "a" * 64},
        {"type": "file", "path": "projects/p/attachments/ab/x.webp"},
        {"type": "file", "path": "/projects/p/attachments/cd/y.bin"},
        "junk",
    ]
    assert image_paths(metas) == {"/projects/p/attachments/ab/x.webp": 1, "/projects/p/attachments/cd/y.bin": 2}
    assert image_paths([]) == {}


async def test_missing_messages_indexes_and_projects_are_not_found(mailbox):
    message_id = await mailbox.send("BlueLake", ["RedFox"], "No files")
    with pytest.raises(NotFoundError, match="no attachment 0"):
        await message_attachment(PROJECT, message_id, 0)
    with pytest.raises(NotFoundError, match="not found"):
        await message_attachment(PROJECT, 999_999, 0)
    with pytest.raises(NotFoundError):
        await message_attachment(OTHER, message_id, 0)
    with pytest.raises(NotFoundError):
        await message_attachment("no-such-project", message_id, 0)
