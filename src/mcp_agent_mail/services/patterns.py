"""Reservation patterns: validation, normalisation and the overlap test.

A pattern is either a *virtual* name (``tool://...``, ``resource://...``,
``service://...``) that only ever overlaps the identical name, or a path glob
relative to the repository root with gitignore semantics (as implemented by
``pathspec``): a pattern without a slash matches at any depth, ``**`` spans
directories, and a pattern naming a directory covers everything below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pathspec

from mcp_agent_mail.errors import InvalidArgumentError

VIRTUAL_PREFIXES = ("tool://", "resource://", "service://")
MAX_PATTERN_LENGTH = 512
GLOB_MARKERS = frozenset("*?[")

_RELATIVE_HINT = "use a path relative to the repository root"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# A last segment with a stem and a literal extension (``*.py``, ``test_*.md``) names files.
_FILE_LIKE = re.compile(r"^[^.].*\.[A-Za-z0-9_+~-]+$")

_DESCEND_ALWAYS = 0  # the pattern may name a directory: it covers everything below
_DESCEND_ON_EVIDENCE = 1  # names files; covers paths below only where another pattern spells them out
_DESCEND_NEVER = 2  # ``dir/*``: pathspec matches direct children only


def is_virtual(pattern: str) -> bool:
    """Tell whether ``pattern`` is a virtual name (tool://, resource://, service://)."""
    return pattern.startswith(VIRTUAL_PREFIXES)


def has_glob(pattern: str) -> bool:
    """Tell whether ``pattern`` contains a glob marker (``*``, ``?`` or ``[``)."""
    return any(ch in GLOB_MARKERS for ch in pattern)


def _invalid(raw: str, why: str, hint: str = _RELATIVE_HINT) -> InvalidArgumentError:
    return InvalidArgumentError(f"path pattern {raw!r} {why}.", hint=hint, data={"path": raw})


@lru_cache(maxsize=4096)
def normalise_pattern(raw: str) -> str:
    """Validate a reservation pattern and return its canonical form (raises INVALID_ARGUMENT)."""
    if not isinstance(raw, str):
        raise InvalidArgumentError(f"path pattern {raw!r} is not a string.", hint="Pass paths as strings.")
    text = raw.strip()
    if not text:
        raise _invalid(raw, "is empty", "pass a file path or glob such as src/app.py or src/**")
    if _CONTROL.search(text):
        raise _invalid(raw, "contains a NUL or control character")
    if len(text) > MAX_PATTERN_LENGTH:
        raise _invalid(raw, f"is longer than {MAX_PATTERN_LENGTH} characters", "reserve a shorter glob")
    if is_virtual(text):
        if text.endswith("://"):
            raise _invalid(raw, "has no name after the scheme", "pass e.g. tool://deploy or service://db")
        return text
    text = text.replace("\\", "/")
    if text.startswith("/"):
        raise _invalid(raw, "is an absolute path")
    if _DRIVE.match(text):
        raise _invalid(raw, "is a Windows drive path")
    if text.startswith("~"):
        raise _invalid(raw, "is relative to a home directory")
    if text.startswith(("!", "#")):
        raise _invalid(raw, "starts with '!' or '#' (negation and comments are not supported)")
    dir_only = text.endswith("/")
    segments: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments or has_glob(segments[-1]):
                raise _invalid(raw, "escapes the repository with '..'")
            segments.pop()
            continue
        if segment != "**" and "**" in segment:
            segment = re.sub(r"\*{2,}", "*", segment)
        if segment == "**" and segments and segments[-1] == "**":
            continue
        segments.append(segment)
    if not segments:
        raise _invalid(raw, "names the whole repository", "reserve specific paths, or '**' if you really mean all")
    result = "/".join(segments)
    return result + "/" if dir_only and segments[-1] != "**" else result


@lru_cache(maxsize=1024)
def compile_spec(pattern: str) -> pathspec.PathSpec:
    """Return the cached gitignore-style matcher of a normalised file pattern."""
    return pathspec.PathSpec.from_lines("gitignore", [pattern])


def pattern_matches(pattern: str, path: str) -> bool:
    """Tell whether a file ``path`` (relative to the repository root) is covered by ``pattern``."""
    normalised = normalise_pattern(pattern)
    if is_virtual(normalised):
        return normalised == path.strip()
    candidate = path.strip().replace("\\", "/")
    while candidate.startswith("./"):
        candidate = candidate[2:]
    return compile_spec(normalised).match_file(candidate)


# ---------------------------------------------------------------------------
# Segment-wise glob intersection

# A character-consuming token: (negated, ((lo, hi), ...)); "?" is (True, ()).
_CharSet = tuple[bool, tuple[tuple[str, str], ...]]
_Token = _CharSet | None  # None is "*"


@dataclass(frozen=True, slots=True)
class _Shape:
    segments: tuple[str, ...]
    descend: int


def _parse_class(segment: str, start: int) -> tuple[_CharSet, int] | None:
    """Parse ``[...]`` at ``start``; return the set and the index after ``]`` (None if unclosed)."""
    i = start + 1
    negated = i < len(segment) and segment[i] in "!^"
    if negated:
        i += 1
    ranges: list[tuple[str, str]] = []
    first = True
    while i < len(segment):
        ch = segment[i]
        if ch == "]" and not first:
            return (negated, tuple(ranges)), i + 1
        first = False
        if i + 2 < len(segment) and segment[i + 1] == "-" and segment[i + 2] != "]":
            lo, hi = ch, segment[i + 2]
            if lo <= hi:
                ranges.append((lo, hi))
            i += 3
        else:
            ranges.append((ch, ch))
            i += 1
    return None


@lru_cache(maxsize=4096)
def _tokens(segment: str) -> tuple[_Token, ...]:
    out: list[_Token] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            if not out or out[-1] is not None:
                out.append(None)
            i += 1
        elif ch == "?":
            out.append((True, ()))
            i += 1
        elif ch == "[" and (parsed := _parse_class(segment, i)) is not None:
            out.append(parsed[0])
            i = parsed[1]
        else:
            out.append((False, ((ch, ch),)))
            i += 1
    return tuple(out)


def _covered(lo: str, hi: str, ranges: tuple[tuple[str, str], ...]) -> bool:
    """Tell whether every character from lo to hi lies in ``ranges``."""
    point = ord(lo)
    for r_lo, r_hi in sorted(ranges):
        if ord(r_lo) <= point <= ord(r_hi):
            point = ord(r_hi) + 1
            if point > ord(hi):
                return True
    return point > ord(hi)


def _sets_intersect(a: _CharSet, b: _CharSet) -> bool:
    neg_a, ranges_a = a
    neg_b, ranges_b = b
    if neg_a and neg_b:
        return True  # two co-finite sets over an unbounded alphabet always meet
    if neg_a:
        return any(not _covered(lo, hi, ranges_a) for lo, hi in ranges_b)
    if neg_b:
        return any(not _covered(lo, hi, ranges_b) for lo, hi in ranges_a)
    return any(lo_a <= hi_b and lo_b <= hi_a for lo_a, hi_a in ranges_a for lo_b, hi_b in ranges_b)


@lru_cache(maxsize=8192)
def segments_intersect(a: str, b: str) -> bool:
    """Tell whether two single-segment globs (``*``, ``?``, ``[...]``, literals) match a common name."""
    if a == b:
        return True
    ta, tb = _tokens(a), _tokens(b)
    seen: dict[tuple[int, int], bool] = {}

    def walk(i: int, j: int) -> bool:
        key = (i, j)
        if key in seen:
            return seen[key]
        seen[key] = False
        if i == len(ta) and j == len(tb):
            result = True
        elif i < len(ta) and ta[i] is None:
            result = walk(i + 1, j) or (j < len(tb) and walk(i, j + 1))
        elif j < len(tb) and tb[j] is None:
            result = walk(i, j + 1) or (i < len(ta) and walk(i + 1, j))
        elif i < len(ta) and j < len(tb):
            set_a, set_b = ta[i], tb[j]
            assert set_a is not None and set_b is not None
            result = _sets_intersect(set_a, set_b) and walk(i + 1, j + 1)
        else:
            result = False
        seen[key] = result
        return result

    return walk(0, 0)


@lru_cache(maxsize=4096)
def _shape(pattern: str) -> _Shape:
    dir_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    segments = body.split("/")
    anchored = "/" in body
    if not anchored and segments[0] != "**":
        segments.insert(0, "**")
    last = segments[-1]
    if dir_only:
        segments.append("**")
        descend = _DESCEND_ALWAYS
    elif last == "**":
        descend = _DESCEND_ALWAYS
    elif anchored and last == "*":
        descend = _DESCEND_NEVER
    elif _FILE_LIKE.match(last):
        descend = _DESCEND_ON_EVIDENCE
    else:
        descend = _DESCEND_ALWAYS
    return _Shape(tuple(segments), descend)


def _tail_free(shape: _Shape, evidence: bool) -> bool:
    """Tell whether paths may continue below the end of ``shape``."""
    if shape.descend == _DESCEND_ALWAYS:
        return True
    return shape.descend == _DESCEND_ON_EVIDENCE and evidence


def _shapes_intersect(sa: _Shape, sb: _Shape) -> bool:
    a, b = sa.segments, sb.segments
    seen: dict[tuple[int, int, bool, bool], bool] = {}

    def rest_is_stars(segs: tuple[str, ...], k: int) -> bool:
        return all(s == "**" for s in segs[k:])

    def walk(i: int, j: int, ev_a: bool, ev_b: bool) -> bool:
        key = (i, j, ev_a, ev_b)
        if key in seen:
            return seen[key]
        seen[key] = False
        if i == len(a) and j == len(b):
            result = True
        elif i == len(a):
            result = rest_is_stars(b, j) or _tail_free(sa, ev_a)
        elif j == len(b):
            result = rest_is_stars(a, i) or _tail_free(sb, ev_b)
        elif a[i] == "**":
            # "**" matches nothing, or swallows b[j]; swallowing b's last segment is no evidence for b.
            result = walk(i + 1, j, ev_a, ev_b) or walk(i, j + 1, ev_a, False)
        elif b[j] == "**":
            result = walk(i, j + 1, ev_a, ev_b) or walk(i + 1, j, False, ev_b)
        else:
            # Two concrete segments meet: each is evidence that the other side's last segment is a directory.
            result = segments_intersect(a[i], b[j]) and walk(i + 1, j + 1, True, True)
        seen[key] = result
        return result

    return walk(0, 0, False, False)


@lru_cache(maxsize=16384)
def _overlap_normalised(a: str, b: str) -> bool:
    virtual_a, virtual_b = is_virtual(a), is_virtual(b)
    if virtual_a or virtual_b:
        return virtual_a and virtual_b and a == b
    if a == b:
        return True
    if not has_glob(b) and compile_spec(a).match_file(b.rstrip("/")):
        return True
    if not has_glob(a) and compile_spec(b).match_file(a.rstrip("/")):
        return True
    return _shapes_intersect(_shape(a), _shape(b))


def patterns_overlap(a: str, b: str) -> bool:
    """Tell whether some path could be covered by both patterns.

    Virtual names overlap only an identical virtual name. For path globs the test is
    symmetric: each pattern is matched (with pathspec) against the other when the other
    is a literal path, and then both are intersected segment by segment, where ``**``
    spans zero or more directories and two segments meet when their ``*``/``?``/``[...]``
    globs accept a common name.

    Approximations, both documented choices:
    - A last segment that may be a directory (``src``, ``LICENSE``, ``src/a*``) is taken
      to cover everything below it, so ``LICENSE`` overlaps ``*.md``: errs toward overlap.
    - A last segment with a literal extension (``*.py``, ``README.md``) is taken to name
      files; it covers deeper paths only where the other pattern spells out that deeper
      path through it (``src/*.py`` vs ``src/x.py/notes.md`` overlaps). Hence ``*.md``
      and ``src/*.py`` do not overlap, although a directory called ``x.py`` holding
      ``y.md`` would technically match both.
    - ``dir/*`` covers direct children only, as pathspec matches it.
    Raises INVALID_ARGUMENT when either pattern is invalid.
    """
    na, nb = normalise_pattern(a), normalise_pattern(b)
    if nb < na:
        na, nb = nb, na
    return _overlap_normalised(na, nb)


__all__ = [
    "GLOB_MARKERS",
    "MAX_PATTERN_LENGTH",
    "VIRTUAL_PREFIXES",
    "compile_spec",
    "has_glob",
    "is_virtual",
    "normalise_pattern",
    "pattern_matches",
    "patterns_overlap",
    "segments_intersect",
]
