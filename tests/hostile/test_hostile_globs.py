"""Bad and explosive reservation globs: refused with a reason or decided, never a crash, a stall or a poisoned mailbox.

Three layers get generated globs (hypothesis): the pattern functions themselves, the
``file_reservation_paths`` tool on a real mailbox (in-process MCP client, real SQLite file),
and patterns stored behind the server's back, as a restored archive could hold them, which
the conflict check, the Git guard and the staleness scan must all survive. Set
``HOSTILE_GLOB_EXAMPLES`` to run more examples by hand (e.g. 2000).
"""

from __future__ import annotations

import asyncio
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import sqlite_path_from_url
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.guard.check import find_conflicts
from mcp_agent_mail.guard.hook import run_check
from mcp_agent_mail.guard.mailbox import PostgresMailbox, parse_postgres_url
from mcp_agent_mail.services.reservations.globs import wildcard_count
from mcp_agent_mail.services.reservations.patterns import (
    EVERYTHING,
    MAX_PATTERN_LENGTH,
    MAX_SEGMENT_WILDCARDS,
    MAX_WILDCARDS,
    normalise_pattern,
    pattern_matches,
    patterns_overlap,
    read_stored_pattern,
)
from mcp_agent_mail.services.reservations.staleness import WorkspaceActivity, workspace_activity
from mcp_agent_mail.timeutil import utcnow

EXAMPLES = int(os.environ.get("HOSTILE_GLOB_EXAMPLES", "60"))

# ---------------------------------------------------------------------------
# Strategies

BAD_GLOBS = (
    "[z-a]",
    "src/[z-a]*.py",
    "[a--]",
    "x[9-0]",
    "[!z-a]",
    "*a" * 40,
    "?" * 40,
    "[ab]" * 20,
    "/".join(["*"] * 40),
    "/".join(["**", "a"] * 40),
    "*" * 600,
    "a" * 513,
    "[",
    "[]",
    "[!]",
    "[]]",
    "[!]]",
    "[a-]",
    "[--]",
    "[[:alpha:]]",
    "a[/]b",
    "[\\]",
    "**/**/**",
    "*a*a*a*a*a*a*a*a*a*b",
    "src/*a*a*a*a*a*a*a*a*a*b",
    "**/" * 40 + "x",
    "a/" * 255 + "b",
    "\u212a[\u212a-k]",
    "[\U0010fffe-\U0010ffff]",
    "\ud800x",
    "a\x00b",
    "tool://",
    "tool://[z-a]",
    "../[z-a]",
    "./!x",
    "a/../~x",
    "#x",
    "C:[a-z]",
    "\u202e*.py",
    "[\u0300-\u036f]*",
)
GLOB_ALPHABET = "*?[]!^-/.\\ab~#:"


@st.composite
def explosive_globs(draw: st.DrawFn) -> str:
    """Globs built to blow up a backtracking matcher: many stars, classes or ``**`` segments."""
    count = draw(st.integers(1, 2 * MAX_SEGMENT_WILDCARDS))
    filler = draw(st.text(alphabet="ab", min_size=1, max_size=3))
    tail = draw(st.sampled_from(["b", "c", "", ".py"]))
    kind = draw(st.sampled_from(["stars", "questions", "classes", "mixed", "deep", "double"]))
    if kind == "stars":
        body = "*" + "*".join([filler] * count) + "*" + tail
    elif kind == "questions":
        body = "?" * count + "*" + filler + tail
    elif kind == "classes":
        body = "*".join(["[ab]" + filler] * count) + tail
    elif kind == "mixed":
        body = "".join(draw(st.sampled_from(["*", "?", "[!a]", filler])) for _ in range(count)) + tail
    elif kind == "deep":
        body = "/".join(["*" + filler] * count) + tail
    else:
        body = "/".join(["**", filler] * count) + tail
    prefix = draw(st.sampled_from(["", "src/", "**/", "a" * 30 + "/"]))
    return prefix + body


def hostile_globs() -> st.SearchStrategy[str]:
    """Bad, explosive, random and plain globs."""
    return st.one_of(
        st.sampled_from(BAD_GLOBS),
        explosive_globs(),
        st.text(alphabet=GLOB_ALPHABET, max_size=40),
        st.text(max_size=24),
    )


def storable_globs() -> st.SearchStrategy[str]:
    """Hostile globs that SQLite can store as text (no lone surrogates)."""
    return hostile_globs().filter(lambda s: not any("\ud800" <= ch <= "\udfff" for ch in s))


def long_paths() -> st.SearchStrategy[str]:
    """Paths with long runs of one letter, deep nesting, or glob characters used literally."""
    name = st.one_of(
        st.builds(
            lambda ch, n, end: ch * n + end,
            st.sampled_from("ab"),
            st.integers(1, 200),
            st.sampled_from(["", "b", "c", ".py"]),
        ),
        st.text(alphabet="ab.*?[]!-", min_size=1, max_size=12).filter(lambda s: s not in (".", "..")),
    )
    return st.lists(name, min_size=1, max_size=6).map("/".join)


PANEL = ("src/**", "*.py", "docs/", "src/*/x.md", "a*", "[ab]*", "**/b", "tool://deploy", "*a*a*a*a*a*a*a*a*a*b")

# ---------------------------------------------------------------------------
# An independent single-segment matcher: memoised, quadratic, for short inputs


def _reference_match(glob: str, name: str) -> bool:
    """Match ``*``, ``?``, ``[xy]``/``[!xy]`` (no ranges) and literals by dynamic programming."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(glob):
        if glob[i] == "[" and (end := glob.find("]", i + 2)) > 0:
            tokens.append(("!", glob[i + 2 : end]) if glob[i + 1] == "!" else ("[", glob[i + 1 : end]))
            i = end + 1
        else:
            tokens.append((glob[i], ""))
            i += 1

    @cache
    def walk(t: int, n: int) -> bool:
        if t == len(tokens):
            return n == len(name)
        kind, members = tokens[t]
        if kind == "*":
            return walk(t + 1, n) or (n < len(name) and walk(t, n + 1))
        if n == len(name):
            return False
        ch = name[n]
        ok = {"?": True, "[": ch in members, "!": ch not in members}.get(kind, ch == kind)
        return ok and walk(t + 1, n + 1)

    return walk(0, 0)


# ---------------------------------------------------------------------------
# The pattern functions


@settings(max_examples=8 * EXAMPLES, deadline=None, database=None)
@given(raw=hostile_globs(), paths=st.lists(long_paths(), min_size=1, max_size=3), other=st.sampled_from(PANEL))
def test_every_glob_is_refused_with_a_reason_or_decided(raw: str, paths: list[str], other: str) -> None:
    try:
        pattern = normalise_pattern(raw)
    except InvalidArgumentError as exc:
        assert exc.code == "INVALID_ARGUMENT"
        assert exc.message.startswith(("path pattern ", "paths ")) and exc.hint
        assert read_stored_pattern(raw) == (EVERYTHING, exc.message)
        return
    assert read_stored_pattern(raw) == (pattern, None)
    assert len(pattern) <= MAX_PATTERN_LENGTH
    if not pattern.startswith(("tool://", "resource://", "service://")):
        segments = [s for s in pattern.rstrip("/").split("/") if s != "**"]
        counts = [wildcard_count(s) for s in segments]
        assert max(counts, default=0) <= MAX_SEGMENT_WILDCARDS
        assert sum(counts) + pattern.split("/").count("**") <= MAX_WILDCARDS
    for path in paths:
        assert pattern_matches(pattern, path) in (True, False)
        assert pattern_matches(pattern, path, ignorecase=True) in (True, False)
    assert patterns_overlap(pattern, other) is patterns_overlap(other, pattern)
    assert patterns_overlap(pattern, pattern) is True


@settings(max_examples=8 * EXAMPLES, deadline=None, database=None)
@given(glob=explosive_globs(), size=st.integers(1, 300), letter=st.sampled_from("ab"), end=st.sampled_from("bc"))
def test_explosive_globs_match_long_names_exactly(glob: str, size: int, letter: str, end: str) -> None:
    segment = glob.rsplit("/", 1)[-1]
    if "/" in glob or "**" in segment:
        return
    try:
        normalise_pattern(glob)
    except InvalidArgumentError:
        assert wildcard_count(segment) > MAX_SEGMENT_WILDCARDS
        return
    for name in (letter * size, letter * size + end, end + letter * size):
        assert pattern_matches(glob, name) is _reference_match(segment, name), (glob, name)
        assert pattern_matches(glob, f"{name}/{name}") is _reference_match(segment, name)  # at any depth


# ---------------------------------------------------------------------------
# The tool, the guard and the staleness scan on a real mailbox


def _rows() -> list[tuple[Any, ...]]:
    return db_kit.rows("file_reservations")


def _guard_mailbox() -> Path | PostgresMailbox:
    """The mailbox as the Git guard reads it: the SQLite file, or the PostgreSQL database of DATABASE_URL."""
    url = db_kit.current_url()
    return sqlite_path_from_url(url) or parse_postgres_url(url)


class Mailbox:
    """A project on a real Git work tree with two agents, driven through one event loop."""

    def __init__(self, env: dict[str, Path], repo: Path) -> None:
        self.repo = repo
        self.key = str(repo)
        self.server = build_mcp_server()
        self.runner = asyncio.Runner()
        self.slug = self.call(("ensure_project", {"human_key": self.key}))["slug"]
        self.db = _guard_mailbox()
        for name in ("BlueLake", "RedFox"):
            self.call(("register_agent", {"project_key": self.key, "program": "p", "model": "m", "name": name}))

    def call(self, call: tuple[str, dict[str, Any]]) -> Any:
        """Run one tool call and return its data (ToolError propagates)."""

        async def run() -> Any:
            async with Client(self.server) as client:
                return (await client.call_tool(*call)).data

        return self.runner.run(run())

    def reserve(self, agent: str, paths: list[str]) -> dict[str, Any]:
        """Reserve ``paths`` exclusively for ``agent``."""
        return self.call(("file_reservation_paths", {"project_key": self.key, "agent_name": agent, "paths": paths}))

    def close(self) -> None:
        """Close the event loop."""
        self.runner.close()


@pytest.fixture
def mailbox(isolated_env: dict[str, Path], code_repo: Path) -> Any:
    box = Mailbox(isolated_env, code_repo)
    try:
        yield box
    finally:
        box.close()


def _others_still_served(box: Mailbox) -> None:
    """Another agent's reservation and the guard still answer (whatever the answer is)."""
    result = box.reserve("RedFox", ["docs/guide.md", "tool://deploy"])
    assert {"granted", "conflicts"} <= set(result)
    assert len(result["granted"]) + len(result["conflicts"]) == 2
    paths = ["docs/guide.md", "a" * 200 + "/b.py", "src/" + "a" * 60]
    found = find_conflicts(box.db, box.slug, paths, agent_name="RedFox")
    assert {c.holder for c in found} <= {"BlueLake"}
    assert run_check(paths, repo=box.repo, agent_name="RedFox", advisory=True, database_path=box.db) == 0


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(globs=st.lists(storable_globs(), min_size=1, max_size=3))
def test_reserving_hostile_globs_is_refused_cleanly_or_granted_and_never_poisons(
    mailbox: Mailbox, globs: list[str]
) -> None:
    before = _rows()
    try:
        result = mailbox.reserve("BlueLake", globs)
    except ToolError as exc:
        assert str(exc).startswith("INVALID_ARGUMENT: "), str(exc)
        assert _rows() == before
    else:
        assert len(result["granted"]) + len(result["conflicts"]) == len({normalise_pattern(g) for g in globs})
    _others_still_served(mailbox)


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(stored=storable_globs())
def test_hostile_patterns_stored_behind_the_servers_back_never_crash_a_check(mailbox: Mailbox, stored: str) -> None:
    # PostgreSQL text cannot hold NUL and enforces the column's 512 characters, so no such row can exist there.
    assume(db_kit.on_sqlite() or ("\x00" not in stored and len(stored) <= 512))
    lease = mailbox.reserve("BlueLake", [f"held/{len(_rows())}.txt"])["granted"][0]
    db_kit.execute(
        "UPDATE file_reservations SET path_pattern = :pattern WHERE id = :id", pattern=stored, id=lease["id"]
    )
    _others_still_served(mailbox)
    activity = workspace_activity(mailbox.key, stored, utcnow())
    assert isinstance(activity, WorkspaceActivity)
    if read_stored_pattern(stored)[1] is not None and not stored.strip().startswith(
        ("tool://", "service://", "resource://")
    ):
        assert activity.files_matched  # read as "**": the work tree's files count as the holder's
        found = find_conflicts(mailbox.db, mailbox.slug, ["README.md"], agent_name="RedFox")
        assert any(c.pattern == stored and c.problem for c in found)
    mailbox.call(
        (
            "release_file_reservations",
            {"project_key": mailbox.key, "agent_name": "BlueLake", "file_reservation_ids": [lease["id"]]},
        )
    )


def test_a_stored_unreadable_pattern_is_scanned_as_the_whole_workspace(mailbox: Mailbox) -> None:
    activity = workspace_activity(mailbox.key, "src/[z-a]*.py", utcnow())
    assert activity.checked and activity.workspace_found and activity.files_matched
    assert activity.scan_complete and activity.repository and activity.repository_readable
