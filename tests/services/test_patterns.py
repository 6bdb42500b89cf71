"""Reservation patterns: normalisation, refusal of unsafe input, and the overlap table."""

from __future__ import annotations

import pytest

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.patterns import (
    normalise_pattern,
    pattern_matches,
    patterns_overlap,
    segments_intersect,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("src/app.py", "src/app.py"),
        ("  ./src/app.py ", "src/app.py"),
        ("././src//app.py", "src/app.py"),
        ("src\\core\\*.py", "src/core/*.py"),
        ("src/", "src/"),
        ("src/**/", "src/**"),
        ("a/**/**/b", "a/**/b"),
        ("a/../b", "b"),
        ("docs/./x.md", "docs/x.md"),
        ("tool://deploy", "tool://deploy"),
        (" service://db ", "service://db"),
        ("resource://inbox/Blue", "resource://inbox/Blue"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise_pattern(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/etc/passwd", "absolute"),
        ("//server/share", "absolute"),
        ("\\\\server\\share", "absolute"),
        ("C:\\x", "Windows drive"),
        ("c:/x", "Windows drive"),
        ("../outside", "escapes"),
        ("src/../../outside", "escapes"),
        ("src/*/../x", "escapes"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("~/x", "home"),
        ("!src", "negation"),
        (".", "whole repository"),
        ("./", "whole repository"),
        ("tool://", "no name"),
        ("x" * 513, "longer"),
    ],
)
def test_invalid_patterns_are_refused_with_hint(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        normalise_pattern(raw)
    assert fragment in info.value.message
    assert info.value.hint
    assert info.value.code == "INVALID_ARGUMENT"


def test_relative_path_hint() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        normalise_pattern("/etc/passwd")
    assert info.value.hint == "use a path relative to the repository root"


OVERLAPPING = [
    ("src/a.py", "src/a.py"),
    ("./src/a.py", "src/a.py"),
    ("src/**", "src/app.py"),
    ("src/**", "src/deep/er/app.py"),
    ("*.py", "src/*"),
    ("*.py", "src/a.py"),
    ("src", "src/a.py"),
    ("src/", "src/a.py"),
    ("src/*.py", "src/a*"),
    ("**/test_*.py", "tests/**"),
    ("a/*/c", "a/b/*"),
    ("src/a*.py", "src/*b.py"),
    ("src/[ab].py", "src/[bc].py"),
    ("src/[!a].py", "src/b.py"),
    ("src/?.py", "src/x.py"),
    ("**", "docs/readme.md"),
    ("*", "anything/at/all"),
    ("src/core/**", "src/**/models.py"),
    ("config.d", "config.d/*.conf"),
    ("src/*.py", "src/x.py/notes.md"),
    ("src", "*.md"),
    ("tool://deploy", "tool://deploy"),
    ("a/**/b", "a/b"),
    ("lib/**", "**/*.so"),
]

DISJOINT = [
    ("src/a.py", "src/b.py"),
    ("docs/**", "src/**"),
    ("*.md", "src/*.py"),
    ("README.md", "*.py"),
    ("src/a.py", "*.md"),
    ("src/[ab].py", "src/[cd].py"),
    ("src/[!a].py", "src/a.py"),
    ("src/*.py", "tests/*.py"),
    ("src/*", "src/sub/a.py"),
    ("src/?.py", "src/ab.py"),
    ("tool://deploy", "tool://build"),
    ("tool://deploy", "tool/deploy"),
    ("tool://deploy", "**"),
    ("service://db", "resource://db"),
    ("a/*/c", "a/b/d"),
    ("src/core/**", "tests/**"),
]


@pytest.mark.parametrize(("a", "b"), OVERLAPPING)
def test_overlapping_pairs(a: str, b: str) -> None:
    assert patterns_overlap(a, b)
    assert patterns_overlap(b, a)


@pytest.mark.parametrize(("a", "b"), DISJOINT)
def test_disjoint_pairs(a: str, b: str) -> None:
    assert not patterns_overlap(a, b)
    assert not patterns_overlap(b, a)


def test_overlap_refuses_invalid_pattern() -> None:
    with pytest.raises(InvalidArgumentError):
        patterns_overlap("../x", "src/a.py")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("*", "abc", True),
        ("a*", "*b", True),
        ("a*c", "ab*", True),
        ("*.py", "*.md", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[!a-z]", "[a-z]", False),
        ("[!a-c]", "[a-d]", True),
        ("?", "??", False),
        ("[!a]", "[!b]", True),
    ],
)
def test_segment_intersection(a: str, b: str, expected: bool) -> None:
    assert segments_intersect(a, b) is expected
    assert segments_intersect(b, a) is expected


def test_pattern_matches_uses_gitignore_semantics() -> None:
    assert pattern_matches("*.py", "deep/dir/x.py")
    assert pattern_matches("src", "./src/a.py")
    assert not pattern_matches("src/*.py", "src/a.md")
    assert pattern_matches("tool://x", "tool://x")
