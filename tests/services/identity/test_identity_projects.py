"""Projects: one row per absolute path, created once, found by path or slug, slugs kept apart."""

from __future__ import annotations

from typing import Any

import pytest

import db_kit
from mcp_agent_mail import archive
from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.identity.projects import ensure_project, get_project, list_projects


def _projects() -> list[tuple[Any, ...]]:
    return db_kit.rows("projects", "id", "slug", "human_key")


async def test_a_new_path_creates_one_project_and_queues_its_archive_folder(isolated_env):
    created = await ensure_project("/work/Some Repo/")
    assert created["slug"] == "work-some-repo" and created["human_key"] == "/work/Some Repo"
    assert created["created_at"].endswith("+00:00") and "archived_at" not in created
    assert archive.pending_count() == 1
    assert await ensure_project("/work/Some Repo") == created
    assert _projects() == [(created["id"], "work-some-repo", "/work/Some Repo")]
    assert archive.pending_count() == 1  # finding an existing project queues nothing


async def test_paths_that_slugify_alike_get_distinct_slugs(isolated_env):
    first = await ensure_project("/work/my_repo")
    second = await ensure_project("/work/my-repo")
    assert first["slug"] == "work-my-repo"
    assert second["slug"].startswith("work-my-repo-") and second["slug"] != first["slug"]
    assert len(_projects()) == 2


async def test_a_very_long_path_gets_a_bounded_slug_that_stays_distinct(isolated_env):
    base = "/work/" + "deep/" * 30
    one, two = await ensure_project(base + "alpha"), await ensure_project(base + "beta")
    assert len(one["slug"]) <= 64 and len(two["slug"]) <= 64 and one["slug"] != two["slug"]


@pytest.mark.parametrize(
    ("key", "error"),
    [("relative/path", InvalidArgumentError), ("", InvalidArgumentError), ("/work/YOUR_PROJECT", ConfigurationError)],
)
async def test_a_path_that_is_not_an_absolute_project_path_is_refused_and_nothing_is_stored(isolated_env, key, error):
    await ensure_project("/work/existing")
    with pytest.raises(error):
        await ensure_project(key)
    assert [row[2] for row in _projects()] == ["/work/existing"]


async def test_a_project_is_found_by_path_or_slug_and_listed_oldest_first(isolated_env):
    first = await ensure_project("/work/first")
    second = await ensure_project("/work/second")
    assert await get_project("/work/second") == second
    assert await get_project(first["slug"]) == first
    assert await list_projects() == [first, second]
    with pytest.raises(NotFoundError):
        await get_project("/work/never-made")
    assert len(_projects()) == 2
