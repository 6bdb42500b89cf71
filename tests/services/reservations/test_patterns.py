"""Reservation patterns: normalisation, refusal of unsafe input, and the overlap table."""

from __future__ import annotations

import itertools
import re
import warnings

import pathspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.reservations.patterns import (
    MAX_SEGMENT_WILDCARDS,
    MAX_WILDCARDS,
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


# ---------------------------------------------------------------------------
# Glob syntax, limits and bounded-time decisions


@pytest.mark.parametrize("raw", ["[z-a]", "src/[z-a]*.py", "docs/[a--]x", "[!9-0].md", "a/b/c[b-a]/**"])
def test_reversed_character_ranges_are_refused(raw: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        normalise_pattern(raw)
    assert "reversed character range" in info.value.message
    assert info.value.hint == "write each range low to high, e.g. [a-z] or [0-9]"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("*a" * (MAX_SEGMENT_WILDCARDS + 1), f"wildcards in one segment; at most {MAX_SEGMENT_WILDCARDS}"),
        ("?" * (MAX_SEGMENT_WILDCARDS + 1), "wildcards in one segment"),
        ("[ab]" * (MAX_SEGMENT_WILDCARDS + 1), "wildcards in one segment"),
        ("/".join(["*"] * (MAX_WILDCARDS + 1)), f"has {MAX_WILDCARDS + 1} wildcards; at most {MAX_WILDCARDS}"),
        ("/".join(["**", "x"] * (MAX_WILDCARDS + 1)), "wildcards; at most"),
    ],
)
def test_patterns_with_too_many_wildcards_are_refused(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        normalise_pattern(raw)
    assert fragment in info.value.message
    assert info.value.hint and "simpler glob" in info.value.hint


def test_patterns_at_the_limits_are_accepted() -> None:
    assert normalise_pattern("*a" * MAX_SEGMENT_WILDCARDS) == "*a" * MAX_SEGMENT_WILDCARDS
    at_limit = "/".join(["*a"] * MAX_WILDCARDS)
    assert normalise_pattern(at_limit) == at_limit
    assert normalise_pattern("*" * 40) == "*"  # a run of stars is one wildcard


@pytest.mark.parametrize("raw", ["./!x", "a/../#x", "./~/x", "a/../C:/x", "./a/../!b/*.py"])
def test_normalising_never_yields_a_pattern_it_would_refuse(raw: str) -> None:
    with pytest.raises(InvalidArgumentError):
        normalise_pattern(raw)


def test_an_unclosed_bracket_is_a_literal_character() -> None:
    assert pattern_matches("a[b", "a[b")
    assert pattern_matches("src/x[1.py", "src/x[1.py")
    assert not pattern_matches("a[b", "ab")
    assert patterns_overlap("a[b", "a*")
    assert not patterns_overlap("src/a[b", "src/ab")
    assert pattern_matches("[]a]", "]") and pattern_matches("[!]]x", "ax") and not pattern_matches("[!]]x", "]x")


def test_character_classes_never_match_a_slash() -> None:
    assert not pattern_matches("a[!x]b", "a/b")
    assert not pattern_matches("a[*-b]c", "a/c")  # the range * to b spans "/"
    assert pattern_matches("a[*-b]c", "a.c")


def test_ignorecase_folds_names_and_classes_without_rewriting_the_pattern() -> None:
    assert pattern_matches("Docs/[A-C]*.md", "docs/b1.MD", ignorecase=True)
    assert not pattern_matches("Docs/[A-C]*.md", "docs/b1.MD")
    assert pattern_matches("[Z-a]x", "zX", ignorecase=True)  # lowercasing the pattern would reverse the range
    assert not pattern_matches("[!a]x", "AX", ignorecase=True)


def test_the_explosive_pair_from_the_issue_is_decided() -> None:
    star_heavy, literal = "*a*a*a*a*a*a*a*a*a*b", "a" * 80
    assert not pattern_matches(star_heavy, literal)
    assert pattern_matches(star_heavy, literal + "b")
    assert pattern_matches(star_heavy, f"{literal}b/deeper/file.py")
    assert patterns_overlap(star_heavy, literal)  # the literal may be a folder holding e.g. "ab"
    assert not patterns_overlap("src/" + star_heavy, f"src/{literal}.py")
    assert patterns_overlap("src/" + star_heavy, f"src/{literal}b")
    assert not segments_intersect(star_heavy, literal)
    assert not segments_intersect("*a" * 16 + "*b", "*a" * 16 + "*c")
    assert segments_intersect("*a" * 16 + "*", "*b*a" * 8)


# ---------------------------------------------------------------------------
# Properties: one matcher, gitignore semantics, sound overlap

_GLOB_PIECES = ["a", "b", "c", ".", "-", "!", "^", "*", "?", "[", "]", "/", "**", "[a-c]", "[!b]"]
_NAME_CHARS = "abc.-!^[]*?"


def _oracle(pattern: str) -> re.Pattern[str]:
    """pathspec's gitignore regex for ``pattern``, with every character class kept off ``/``.

    pathspec copies a class into a regular expression, where ``[!a]`` or ``[*-b]`` also
    match ``/``; in gitignore (and here) a class matches one character of a name only.
    """
    source = pathspec.PathSpec.from_lines("gitignore", [pattern]).patterns[0].regex.pattern
    out, i = [], 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            out.append(source[i : i + 2])
            i += 2
            continue
        if ch == "[":
            j = i + 1 + (source[i + 1] == "^")
            j += source[j] == "]"
            while source[j] != "]":
                j += 2 if source[j] == "\\" else 1
            piece = source[i : j + 1]
            out.append(piece if piece == "[^/]" else "(?!/)" + piece)
            i = j + 1
            continue
        out.append(ch)
        i += 1
    return re.compile("".join(out))


globs = st.lists(st.sampled_from(_GLOB_PIECES), min_size=1, max_size=8).map("".join)
names = st.text(alphabet=_NAME_CHARS, min_size=1, max_size=4).filter(lambda n: n not in (".", ".."))
paths = st.lists(names, min_size=1, max_size=4).map("/".join)


@settings(max_examples=400, deadline=None, database=None)
@given(raw=globs, candidates=st.lists(paths, min_size=1, max_size=6))
def test_matching_agrees_with_gitignore_semantics(raw: str, candidates: list[str]) -> None:
    try:
        pattern = normalise_pattern(raw)
    except InvalidArgumentError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = _oracle(pattern)
    for path in candidates:
        assert pattern_matches(pattern, path) is (oracle.search(path) is not None), (pattern, path)


@settings(max_examples=300, deadline=None, database=None)
@given(raw=st.text(alphabet="ab*?[]!-/.\\~#", max_size=12))
def test_normalising_is_idempotent(raw: str) -> None:
    try:
        pattern = normalise_pattern(raw)
    except InvalidArgumentError:
        return
    assert normalise_pattern(pattern) == pattern


_DIR_PIECES = ["a", "b", "*", "?", "[ab]", "[!a]", "/", "**", "a/", "b/"]
_WITNESSES = ["/".join(p) for n in range(1, 4) for p in itertools.product(["a", "b", "ab", "ba", "c"], repeat=n)]
dir_globs = st.lists(st.sampled_from(_DIR_PIECES), min_size=1, max_size=5).map("".join)


@settings(max_examples=300, deadline=None, database=None)
@given(raw_a=dir_globs, raw_b=dir_globs)
def test_overlap_is_found_whenever_a_path_matches_both(raw_a: str, raw_b: str) -> None:
    # Without a file-like last segment (no extension) the overlap test makes no approximation
    # that could miss a shared path.
    try:
        a, b = normalise_pattern(raw_a), normalise_pattern(raw_b)
    except InvalidArgumentError:
        return
    shared = [p for p in _WITNESSES if pattern_matches(a, p) and pattern_matches(b, p)]
    if shared:
        assert patterns_overlap(a, b), (a, b, shared[0])
    assert patterns_overlap(a, b) == patterns_overlap(b, a)


seg_globs = st.lists(st.sampled_from(["a", "b", "*", "?", "[ab]", "[!a]", "[b-c]"]), max_size=5).map("".join)


@settings(max_examples=300, deadline=None, database=None)
@given(a=seg_globs.filter(bool), b=seg_globs.filter(bool))
def test_segment_intersection_agrees_with_brute_force(a: str, b: str) -> None:
    # Two globs of n and m tokens that share a name share one of at most n + m characters.
    longest = len(a) + len(b)
    found = (
        any(
            pattern_matches(a, name) and pattern_matches(b, name)
            for size in range(1, longest + 1)
            for name in map("".join, itertools.product("abcd", repeat=size))
        )
        if longest <= 7
        else None
    )
    if found is not None:
        assert segments_intersect(a, b) is found, (a, b)
