"""A glob engine in bounded time: parse segment globs, match names and paths, intersect two globs.

Syntax and meaning follow gitignore patterns as the ``pathspec`` library reads them:
``*`` is any run of characters other than ``/``, ``?`` is one such character, and
``[...]`` is a character class (``!`` or ``^`` negates it, ``a-z`` is a range, a ``]``
first in the class is a member). A ``[`` without a closing ``]`` in its segment is a
literal ``[``. A reversed range such as ``[z-a]`` is a syntax error. One difference:
a class never matches ``/`` (pathspec lets ``[!a]`` or ``[*-b]`` match it), as in Git.

No regular expression and no backtracking is involved. Every decision walks the
product of two token sequences row by row, keeping the reachable columns of a row as
the bits of one integer, so the cost is a handful of integer operations per token of
the shorter sequence (on integers as wide as the longer one) plus the set tests of its
character classes: polynomial in the sizes of both sides, never exponential.

This module imports only the standard library: the Git guard runs it inside hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

STAR_SEGMENT = "**"


class GlobSyntaxError(ValueError):
    """A glob that cannot be read (for instance a reversed character range)."""


def _fold(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == 1 else ch


@dataclass(frozen=True, slots=True)
class CharClass:
    """A set of characters: ``[...]``, ``[!...]``, or ``?`` (negated and empty)."""

    negated: bool
    ranges: tuple[tuple[str, str], ...]
    fold: bool = False
    chars: frozenset[str] | None = None  # the members spelled out, when the ranges are short

    def _member(self, ch: str) -> bool:
        if self.chars is not None:
            return ch in self.chars
        return any(lo <= ch <= hi for lo, hi in self.ranges)

    def contains(self, ch: str) -> bool:
        """Tell whether ``ch`` is in the set (ignoring case when the class was folded)."""
        found = self._member(ch)
        if not found and self.fold:
            found = any(len(v) == 1 and self._member(v) for v in (ch.lower(), ch.upper()))
        return found != self.negated

    @property
    def any(self) -> bool:
        """Tell whether this is ``?`` (every character but ``/``)."""
        return self.negated and not self.ranges


Token = str | CharClass | None  # a literal character, a class, or None for "*"
ANY_CHAR = CharClass(True, ())


def _covered(lo: str, hi: str, ranges: tuple[tuple[str, str], ...]) -> bool:
    """Tell whether every character from lo to hi lies in ``ranges``."""
    point = ord(lo)
    for r_lo, r_hi in sorted(ranges):
        if ord(r_lo) <= point <= ord(r_hi):
            point = ord(r_hi) + 1
            if point > ord(hi):
                return True
    return point > ord(hi)


def classes_meet(a: CharClass, b: CharClass) -> bool:
    """Tell whether two character classes share a character."""
    if a.negated and b.negated:
        return True  # two co-finite sets over an unbounded alphabet always meet
    if a.negated:
        return any(not _covered(lo, hi, a.ranges) for lo, hi in b.ranges)
    if b.negated:
        return any(not _covered(lo, hi, b.ranges) for lo, hi in a.ranges)
    return any(lo_a <= hi_b and lo_b <= hi_a for lo_a, hi_a in a.ranges for lo_b, hi_b in b.ranges)


def _parse_class(segment: str, start: int, fold: bool) -> tuple[CharClass, int] | None:
    """Read ``[...]`` at ``start``; return the class and the index after ``]``, or None if it is unclosed."""
    i = start + 1
    n = len(segment)
    negated = i < n and segment[i] in "!^"
    if negated:
        i += 1
    end = i + 1 if i < n and segment[i] == "]" else i
    end = segment.find("]", end)
    if end < 0:
        return None
    body = segment[i:end]
    ranges: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        ch = body[k]
        if k + 2 < len(body) and body[k + 1] == "-":
            hi = body[k + 2]
            if ch > hi:
                raise GlobSyntaxError(f"has a reversed character range '{ch}-{hi}'")
            ranges.append((ch, hi))
            k += 3
        else:
            ranges.append((ch, ch))
            k += 1
    span = sum(ord(hi) - ord(lo) + 1 for lo, hi in ranges)
    chars = frozenset(chr(c) for lo, hi in ranges for c in range(ord(lo), ord(hi) + 1)) if span <= 512 else None
    return CharClass(negated, tuple(ranges), fold, chars), end + 1


@lru_cache(maxsize=8192)
def segment_tokens(segment: str, fold: bool = False) -> tuple[Token, ...]:
    """Parse one path segment's glob into tokens (raises GlobSyntaxError); ``fold`` ignores case."""
    out: list[Token] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            if not out or out[-1] is not None:
                out.append(None)
            i += 1
        elif ch == "?":
            out.append(ANY_CHAR)
            i += 1
        elif ch == "[" and (parsed := _parse_class(segment, i, fold)) is not None:
            out.append(parsed[0])
            i = parsed[1]
        else:
            out.append(_fold(ch) if fold else ch)
            i += 1
    return tuple(out)


def wildcard_count(segment: str) -> int:
    """Count the wildcards of a segment glob: each run of ``*``, each ``?`` and each class."""
    return sum(1 for token in segment_tokens(segment) if not isinstance(token, str))


@lru_cache(maxsize=8192)
def literal_text(segment: str) -> str | None:
    """Return the name a wildcard-free segment spells (``a[b`` spells itself), else None."""
    tokens = segment_tokens(segment)
    return segment if all(isinstance(t, str) for t in tokens) else None


# ---------------------------------------------------------------------------
# Two token sequences: the bit-parallel product walk


@dataclass(frozen=True, slots=True)
class _Columns:
    """One side of a product walk, indexed for building row masks."""

    n: int
    full: int
    stars: int
    sets: int
    anys: int
    literals: dict[str, int]
    classes: tuple[tuple[int, CharClass], ...]


def _index(tokens: Sequence[Token]) -> _Columns:
    stars = sets = anys = 0
    literals: dict[str, int] = {}
    classes: list[tuple[int, CharClass]] = []
    for pos, token in enumerate(tokens):
        bit = 1 << pos
        if token is None:
            stars |= bit
            continue
        sets |= bit
        if isinstance(token, str):
            literals[token] = literals.get(token, 0) | bit
        elif token.any:
            anys |= bit
        else:
            classes.append((bit, token))
    n = len(tokens)
    return _Columns(n, (1 << (n + 1)) - 1, stars, sets, anys, literals, tuple(classes))


@lru_cache(maxsize=4096)
def _glob_columns(segment: str, fold: bool) -> _Columns:
    return _index(segment_tokens(segment, fold))


def _row_mask(token: str | CharClass, cols: _Columns) -> int:
    """Return the columns whose token accepts a character that ``token`` accepts too."""
    if isinstance(token, str):
        mask = cols.literals.get(token, 0) | cols.anys
        for bit, cls in cols.classes:
            if cls.contains(token):
                mask |= bit
        return mask
    if token.any:
        return cols.sets
    mask = cols.anys
    for ch, bits in cols.literals.items():
        if token.contains(ch):
            mask |= bits
    for bit, cls in cols.classes:
        if classes_meet(token, cls):
            mask |= bit
    return mask


def _meet(rows: Sequence[Token], cols: _Columns) -> bool:
    """Tell whether the languages of ``rows`` and of the indexed ``cols`` share a string.

    State (i, j) means both globs can have read the same text up to row token i and
    column token j. A star on either side may skip itself or swallow one token of the
    other side; two character tokens advance together when their sets meet. A row of
    states is the bit set of its columns.
    """
    full, stars, n = cols.full, cols.stars, cols.n
    masks: dict[str | CharClass, int] = {}
    row = 1
    for token in rows:
        if token is None:
            row = full & -(row & -row)  # a star swallows any run of columns: all bits from the lowest up
        else:
            row |= (row & stars) << 1
            mask = masks.get(token)
            if mask is None:
                mask = masks[token] = _row_mask(token, cols)
            row = (row & stars) | (((row & mask) << 1) & full)
        if not row:
            return False
    row |= (row & stars) << 1
    return bool(row >> n & 1)


@lru_cache(maxsize=16384)
def segments_intersect(a: str, b: str) -> bool:
    """Tell whether two single-segment globs (``*``, ``?``, ``[...]``, literals) match a common name."""
    if a == b:
        return True
    ta, tb = segment_tokens(a), segment_tokens(b)
    if len(ta) <= len(tb):
        return _meet(ta, _glob_columns(b, False))
    return _meet(tb, _glob_columns(a, False))


def _chunks(tokens: tuple[Token, ...]) -> tuple[str, ...] | None:
    """Return the literal runs between stars when a glob has no ``?`` or class, else None."""
    parts = [""]
    for token in tokens:
        if token is None:
            parts.append("")
        elif isinstance(token, str):
            parts[-1] += token
        else:
            return None
    return tuple(parts)


@lru_cache(maxsize=8192)
def _segment_chunks(segment: str, fold: bool) -> tuple[str, ...] | None:
    return _chunks(segment_tokens(segment, fold))


def _chunks_match(chunks: tuple[str, ...], name: str) -> bool:
    """Match stars-and-literals: leftmost placement of each middle run is optimal."""
    if len(chunks) == 1:
        return name == chunks[0]
    first, last = chunks[0], chunks[-1]
    end = len(name) - len(last)
    if end < len(first) or not name.startswith(first) or not name.endswith(last):
        return False
    pos = len(first)
    for chunk in chunks[1:-1]:
        found = name.find(chunk, pos, end)
        if found < 0:
            return False
        pos = found + len(chunk)
    return True


def segment_matches(segment: str, name: str, fold: bool = False) -> bool:
    """Tell whether the segment glob matches the literal file or folder ``name`` (``fold``: ignore case)."""
    if not name:
        return False
    if fold:
        name = "".join(_fold(ch) for ch in name)
    chunks = _segment_chunks(segment, fold)
    if chunks is not None:
        return _chunks_match(chunks, name)
    tokens = segment_tokens(segment, fold)
    fixed = _fixed_width(segment, fold)
    if fixed is not None:  # no star: one token per character
        return fixed == len(name) and all(
            ch == token if isinstance(token, str) else token is not None and token.contains(ch)
            for token, ch in zip(tokens, name, strict=True)
        )
    if len(tokens) <= len(name):
        return _meet(tokens, _name_columns(name))
    return _meet(name, _glob_columns(segment, fold))


@lru_cache(maxsize=8192)
def _fixed_width(segment: str, fold: bool) -> int | None:
    """Return how many characters a star-free segment glob matches, or None when it has a star."""
    tokens = segment_tokens(segment, fold)
    return None if None in tokens else len(tokens)


@lru_cache(maxsize=1024)
def _name_columns(name: str) -> _Columns:
    return _index(name)


# ---------------------------------------------------------------------------
# Whole paths with gitignore semantics

_MATCH_ALL = 0  # every non-empty path
_MATCH_NESTED = 1  # every path below a folder (one with a "/")
_MATCH_SEGMENTS = 2

_END_DESCEND = 0  # the last segment names a file or a folder with everything below it
_END_EXACT = 1  # a last "*": a direct entry only (a trailing "/" allowed)
_END_BELOW = 2  # a last "**": something must follow


@dataclass(frozen=True, slots=True)
class PathGlob:
    """A normalised pattern read the gitignore way: anchored segments, ``**`` (None) and how it ends."""

    kind: int
    segments: tuple[str | None, ...]
    end: int

    @property
    def stars(self) -> int:
        """The positions of ``**`` segments, as bits."""
        return sum(1 << p for p, s in enumerate(self.segments) if s is None)


@lru_cache(maxsize=4096)
def compile_path_glob(pattern: str) -> PathGlob:
    """Read a normalised, non-virtual pattern (raises GlobSyntaxError for a bad segment)."""
    parts = pattern.split("/")
    slashless = len(parts) == 1 or (len(parts) == 2 and not parts[1])
    if slashless and parts[0] != STAR_SEGMENT:
        parts.insert(0, STAR_SEGMENT)  # a slash-less pattern matches at any depth
    is_dir = not parts[-1]
    if is_dir:
        parts[-1] = STAR_SEGMENT
    segments: list[str] = []
    for part in parts:
        if part == STAR_SEGMENT and segments and segments[-1] == STAR_SEGMENT:
            continue
        if part != STAR_SEGMENT:
            segment_tokens(part)  # validate
        segments.append(part)
    if segments == [STAR_SEGMENT]:
        return PathGlob(_MATCH_NESTED if is_dir else _MATCH_ALL, (), _END_DESCEND)
    if segments == [STAR_SEGMENT, "*"]:
        return PathGlob(_MATCH_ALL, (), _END_DESCEND)
    if segments == [STAR_SEGMENT, "*", STAR_SEGMENT]:
        return PathGlob(_MATCH_NESTED, (), _END_DESCEND)
    end = _END_DESCEND
    if segments[-1] == STAR_SEGMENT:
        end = _END_BELOW
        segments.pop()
    elif segments[-1] == "*":
        end = _END_EXACT
    return PathGlob(_MATCH_SEGMENTS, tuple(None if s == STAR_SEGMENT else s for s in segments), end)


@lru_cache(maxsize=4096)
def _path_columns(glob: PathGlob, fold: bool) -> tuple[int, dict[str, int], tuple[tuple[int, str], ...]]:
    """Index a path glob: its ``**`` positions, its literal segments by name, and its glob segments."""
    literals: dict[str, int] = {}
    patterned: list[tuple[int, str]] = []
    for p, segment in enumerate(glob.segments):
        if segment is None:
            continue
        literal = literal_text(segment)
        if literal is None:
            patterned.append((1 << p, segment))
        else:
            key = "".join(_fold(ch) for ch in literal) if fold else literal
            literals[key] = literals.get(key, 0) | 1 << p
    return glob.stars, literals, tuple(patterned)


def path_glob_matches(glob: PathGlob, path: str, fold: bool = False) -> bool:
    """Tell whether a literal repository-relative ``path`` is covered by ``glob``.

    The states (positions in the glob) are the bits of one integer; each folder name is
    tested once against each segment glob, however often it recurs in the path.
    """
    if glob.kind == _MATCH_ALL:
        return bool(path)
    if glob.kind == _MATCH_NESTED:
        return "/" in path
    stars, literals, patterned = _path_columns(glob, fold)
    end = glob.end
    done = 1 << len(glob.segments)
    names = path.split("/")
    count = len(names)

    def accepted(consumed: int) -> bool:
        rest = count - consumed
        if end == _END_DESCEND:
            return True
        if end == _END_BELOW:
            return rest >= 1
        return rest == 0 or (rest == 1 and names[-1] == "")

    seen: dict[tuple[int, str], bool] = {}
    states = 1 | ((1 & stars) << 1)
    for consumed, name in enumerate(names):
        if states & done and accepted(consumed):
            return True
        if fold:
            name = "".join(_fold(ch) for ch in name)
        met = literals.get(name, 0)
        for bit, segment in patterned:
            if states & bit:
                hit = seen.get((bit, name))
                if hit is None:
                    hit = seen[(bit, name)] = segment_matches(segment, name, fold)
                if hit:
                    met |= bit
        states = (states & stars) | ((states & met) << 1)
        if not states:
            return False
        states |= (states & stars) << 1
    return bool(states & done) and accepted(count)


# ---------------------------------------------------------------------------
# Two path globs, segment by segment


@dataclass(frozen=True, slots=True)
class Shape:
    """A path glob for intersection: anchored segments (``**`` spans folders) and two end rules.

    ``tail(evidence)`` tells whether paths may continue below the last segment; ``evidence``
    is True when the other glob matched a concrete segment against this one's last segment.
    """

    segments: tuple[str, ...]
    tail: tuple[bool, bool]


def _segment_mask(segment: str, literal_cols: dict[str, int], glob_cols: tuple[tuple[int, str], ...]) -> int:
    """Return the columns (concrete segments of the other shape) that meet ``segment``."""
    literal = literal_text(segment)
    mask = 0
    if literal is not None:
        mask = literal_cols.get(literal, 0)
        for bit, other in glob_cols:
            if segment_matches(other, literal):
                mask |= bit
        return mask
    for name, bits in literal_cols.items():
        if segment_matches(segment, name):
            mask |= bits
    for bit, other in glob_cols:
        if segments_intersect(segment, other):
            mask |= bit
    return mask


def shapes_meet(a: Shape, b: Shape) -> bool:
    """Tell whether some path fits both shapes, walking their segments as a product (see ``_meet``).

    State (i, j, ea, eb): segments up to i of ``a`` and j of ``b`` are matched; ``ea``/``eb``
    record whether a concrete segment of the other side met the last one matched. ``**`` on
    ``a`` (tried first) may match nothing or swallow a segment of ``b`` (which then proves
    nothing about ``b``'s last segment), and likewise for ``b``. Once either side is used up,
    the path fits both if the rest of the other is all ``**`` or the used-up side may continue.
    """
    sa, sb = a.segments, b.segments
    m, n = len(sa), len(sb)
    full, top = (1 << (n + 1)) - 1, 1 << n
    stars_b = rest_b = 0
    literal_cols: dict[str, int] = {}
    glob_cols: list[tuple[int, str]] = []
    trailing = True
    for j in range(n - 1, -1, -1):
        segment = sb[j]
        trailing = trailing and segment == STAR_SEGMENT
        if trailing:
            rest_b |= 1 << j
        if segment == STAR_SEGMENT:
            stars_b |= 1 << j
        elif (literal := literal_text(segment)) is not None:
            literal_cols[literal] = literal_cols.get(literal, 0) | 1 << j
        else:
            glob_cols.append((1 << j, segment))
    rest_b |= top
    rest_a = [all(s == STAR_SEGMENT for s in sa[i:]) for i in range(m)]
    globs = tuple(glob_cols)
    masks: dict[str, int] = {}
    rows = [1, 0, 0, 0]  # indexed by 2 * ea + eb
    for i in range(m):
        segment = sa[i]
        if segment == STAR_SEGMENT:
            for ea in (0, 2):
                swallowing = (rows[ea] | rows[ea + 1]) & ~top
                if swallowing:
                    rows[ea] |= full & -((swallowing & -swallowing) << 1)
        else:
            rows = [r | ((r & stars_b) << 1) for r in rows]
        for f in range(4):
            if rows[f] & top and (rest_a[i] or b.tail[f & 1]):
                return True
        if segment == STAR_SEGMENT:
            rows = [r & ~top for r in rows]
        else:
            mask = masks.get(segment)
            if mask is None:
                mask = masks[segment] = _segment_mask(segment, literal_cols, globs)
            met = ((rows[0] | rows[1] | rows[2] | rows[3]) & mask) << 1
            rows = [rows[0] & stars_b | rows[2] & stars_b, rows[1] & stars_b | rows[3] & stars_b, 0, met]
        if not any(rows):
            return False
    return any(r and (r & rest_b or a.tail[f >> 1]) for f, r in enumerate(rows))


__all__ = [
    "ANY_CHAR",
    "CharClass",
    "GlobSyntaxError",
    "PathGlob",
    "Shape",
    "classes_meet",
    "compile_path_glob",
    "literal_text",
    "path_glob_matches",
    "segment_matches",
    "segment_tokens",
    "segments_intersect",
    "shapes_meet",
    "wildcard_count",
]
