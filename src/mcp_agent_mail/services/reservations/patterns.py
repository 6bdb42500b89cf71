"""Reservation patterns: validation, normalisation, matching and the overlap test.

A pattern is either a *virtual* name (``tool://...``, ``resource://...``,
``service://...``) that only ever overlaps the identical name, or a path glob
relative to the repository root with gitignore semantics: a pattern without a
slash matches at any depth, ``**`` spans directories, and a pattern naming a
directory covers everything below it. One engine (:mod:`.globs`) validates a
pattern when it is reserved and later matches paths and intersects patterns with
it, in bounded time. The limits below keep that time small:

- at most :data:`MAX_PATTERN_LENGTH` characters;
- at most :data:`MAX_SEGMENT_WILDCARDS` wildcards in one segment and
  :data:`MAX_WILDCARDS` in the whole pattern, where a wildcard is a run of ``*``,
  a ``?``, a ``[...]`` class, or a ``**`` segment;
- character classes must be well formed: a reversed range such as ``[z-a]`` is
  refused. A ``[`` with no ``]`` later in its segment is a literal ``[``, as
  gitignore reads it, so ``a[b`` names the file ``a[b``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.reservations.globs import (
    GlobSyntaxError,
    Shape,
    compile_path_glob,
    literal_text,
    path_glob_matches,
    segments_intersect,
    shapes_meet,
    wildcard_count,
)

VIRTUAL_PREFIXES = ("tool://", "resource://", "service://")
MAX_PATTERN_LENGTH = 512
MAX_WILDCARDS = 32
MAX_SEGMENT_WILDCARDS = 16
GLOB_MARKERS = frozenset("*?[")
EVERYTHING = "**"

_RELATIVE_HINT = "use a path relative to the repository root"
_SIMPLER_HINT = "reserve a simpler glob, e.g. a folder such as src/** or a few literal paths"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# A last segment with a stem and a literal extension (``*.py``, ``test_*.md``) names files.
_FILE_LIKE = re.compile(r"^[^.].*\.[A-Za-z0-9_+~-]+$")


def is_virtual(pattern: str) -> bool:
    """Tell whether ``pattern`` is a virtual name (tool://, resource://, service://)."""
    return pattern.startswith(VIRTUAL_PREFIXES)


def has_glob(pattern: str) -> bool:
    """Tell whether ``pattern`` contains a glob marker (``*``, ``?`` or ``[``)."""
    return any(ch in GLOB_MARKERS for ch in pattern)


def _invalid(raw: str, why: str, hint: str = _RELATIVE_HINT) -> InvalidArgumentError:
    return InvalidArgumentError(f"path pattern {raw!r} {why}.", hint=hint, data={"path": raw})


def _check_globs(raw: str, segments: list[str]) -> None:
    """Refuse malformed character classes and too many wildcards, with the engine that matches later."""
    total = 0
    for segment in segments:
        if segment == EVERYTHING:
            total += 1
            continue
        try:
            count = wildcard_count(segment)
        except GlobSyntaxError as exc:
            raise _invalid(raw, str(exc), "write each range low to high, e.g. [a-z] or [0-9]") from None
        if count > MAX_SEGMENT_WILDCARDS:
            raise _invalid(
                raw, f"has {count} wildcards in one segment; at most {MAX_SEGMENT_WILDCARDS} are allowed", _SIMPLER_HINT
            )
        total += count
    if total > MAX_WILDCARDS:
        raise _invalid(raw, f"has {total} wildcards; at most {MAX_WILDCARDS} are allowed", _SIMPLER_HINT)


def _check_start(raw: str, text: str) -> None:
    if text.startswith("/"):
        raise _invalid(raw, "is an absolute path")
    if _DRIVE.match(text):
        raise _invalid(raw, "is a Windows drive path")
    if text.startswith("~"):
        raise _invalid(raw, "is relative to a home directory")
    if text.startswith(("!", "#")):
        raise _invalid(raw, "starts with '!' or '#' (negation and comments are not supported)")


def normalise_pattern(raw: str) -> str:
    """Validate a reservation pattern and return its canonical form (raises INVALID_ARGUMENT)."""
    if not isinstance(raw, str):
        raise InvalidArgumentError(f"path pattern {raw!r} is not a string.", hint="Pass paths as strings.")
    return _normalise(raw)


@lru_cache(maxsize=4096)
def _normalise(raw: str) -> str:
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
    _check_start(raw, text)
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
    _check_start(raw, result)  # ``./!x`` or ``a/../~x`` must not become what is refused above
    _check_globs(raw, segments)
    return result + "/" if dir_only and segments[-1] != "**" else result


def pattern_matches(pattern: str, path: str, *, ignorecase: bool = False) -> bool:
    """Tell whether a file ``path`` (relative to the repository root) is covered by ``pattern``."""
    normalised = normalise_pattern(pattern)
    if is_virtual(normalised):
        return normalised == path.strip()
    candidate = path.strip().replace("\\", "/")
    while candidate.startswith("./"):
        candidate = candidate[2:]
    return path_glob_matches(compile_path_glob(normalised), candidate, ignorecase)


def read_stored_pattern(raw: str) -> tuple[str, str | None]:
    """Return ``(pattern, problem)`` for a stored pattern; one that no longer validates reads as ``**``.

    Rows restored from an old restore point, or stored before a limit existed, may hold a pattern
    that :func:`normalise_pattern` refuses today. Checks must not fail on them, and must not
    let them lapse silently either: such a pattern is taken to cover every path, and
    ``problem`` says why, for the caller to report.
    """
    try:
        return normalise_pattern(raw), None
    except InvalidArgumentError as exc:
        return EVERYTHING, exc.message


# ---------------------------------------------------------------------------
# Overlap of two patterns


@lru_cache(maxsize=4096)
def _is_literal(pattern: str) -> bool:
    """Tell whether a normalised path pattern names one path (no wildcard anywhere)."""
    return all(s != EVERYTHING and literal_text(s) is not None for s in pattern.rstrip("/").split("/"))


def _tail(anchored: bool, dir_only: bool, last: str) -> tuple[bool, bool]:
    """Whether paths may continue below the pattern's end, without and with evidence from the other side."""
    if dir_only or last == EVERYTHING:
        return True, True
    if anchored and last == "*":
        return False, False  # ``dir/*``: direct children only, as gitignore reads it
    if _FILE_LIKE.match(last):
        return False, True  # names files; covers deeper paths only where the other side spells them out
    return True, True  # may name a directory: covers everything below it


@lru_cache(maxsize=4096)
def _shape(pattern: str) -> Shape:
    dir_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    segments = body.split("/")
    anchored = "/" in body
    if not anchored and segments[0] != EVERYTHING:
        segments.insert(0, EVERYTHING)
    last = segments[-1]
    if dir_only:
        segments.append(EVERYTHING)
    return Shape(tuple(segments), _tail(anchored, dir_only, last))


@lru_cache(maxsize=16384)
def _overlap_normalised(a: str, b: str) -> bool:
    virtual_a, virtual_b = is_virtual(a), is_virtual(b)
    if virtual_a or virtual_b:
        return virtual_a and virtual_b and a == b
    if a == b:
        return True
    if _is_literal(b) and path_glob_matches(compile_path_glob(a), b.rstrip("/")):
        return True
    if _is_literal(a) and path_glob_matches(compile_path_glob(b), a.rstrip("/")):
        return True
    return shapes_meet(_shape(a), _shape(b))


def patterns_overlap(a: str, b: str) -> bool:
    """Tell whether some path could be covered by both patterns.

    Virtual names overlap only an identical virtual name. For path globs the test is
    symmetric: each pattern is matched against the other when the other is a literal
    path, and then both are intersected segment by segment, where ``**`` spans zero or
    more directories and two segments meet when their ``*``/``?``/``[...]`` globs accept
    a common name. The time is bounded (see :mod:`.globs`): polynomial in the sizes of
    the two patterns, which validation keeps small.

    Approximations, both documented choices:
    - A last segment that may be a directory (``src``, ``LICENSE``, ``src/a*``) is taken
      to cover everything below it, so ``LICENSE`` overlaps ``*.md``: errs toward overlap.
    - A last segment with a literal extension (``*.py``, ``README.md``) is taken to name
      files; it covers deeper paths only where the other pattern spells out that deeper
      path through it (``src/*.py`` vs ``src/x.py/notes.md`` overlaps). Hence ``*.md``
      and ``src/*.py`` do not overlap, although a directory called ``x.py`` holding
      ``y.md`` would technically match both.
    - ``dir/*`` covers direct children only, as gitignore reads it.
    Raises INVALID_ARGUMENT when either pattern is invalid.
    """
    na, nb = normalise_pattern(a), normalise_pattern(b)
    if nb < na:
        na, nb = nb, na
    return _overlap_normalised(na, nb)


__all__ = [
    "EVERYTHING",
    "GLOB_MARKERS",
    "MAX_PATTERN_LENGTH",
    "MAX_SEGMENT_WILDCARDS",
    "MAX_WILDCARDS",
    "VIRTUAL_PREFIXES",
    "has_glob",
    "is_virtual",
    "normalise_pattern",
    "pattern_matches",
    "patterns_overlap",
    "read_stored_pattern",
    "segments_intersect",
]
