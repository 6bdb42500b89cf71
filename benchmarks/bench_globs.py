"""Worst-case time of glob decisions: ``python benchmarks/bench_globs.py [--pairs N] [--seed S] [--serve]``.

Generates adversarial reservation patterns (star-heavy, class-heavy, ``**``-heavy, long
literals, random globs at the length limit, and pairs grown by a hill climb toward the
slowest), keeps those the server accepts, and times with cold caches:

- ``patterns_overlap(a, b)`` for every pair: the conflict test of ``file_reservation_paths``;
- ``pattern_matches(pattern, path)`` against long adversarial paths: the Git guard's test.

Each decision is timed three times from cold caches and the fastest run counts (to drop
scheduler noise); the report gives p50, p99 and the worst case over all pairs against the
10 ms target. ``--serve`` adds an end-to-end run: 50 agents hold 150 adversarial leases, then
one agent requests 100 adversarial patterns (none overlapping, so all 15,000 pairs are decided
in full) through the MCP tool, while a ticker measures how late the event loop runs, a probe
agent keeps making small writes, and the reservation's work inside its write transaction is
timed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.reservations import globs, patterns

TARGET_MS = 10.0
LIMIT = patterns.MAX_PATTERN_LENGTH
SEG = patterns.MAX_SEGMENT_WILDCARDS
TOTAL = patterns.MAX_WILDCARDS
CACHED: tuple[Callable[..., Any], ...] = (
    patterns._overlap_normalised,
    patterns._shape,
    patterns._is_literal,
    patterns._normalise,
    globs.segments_intersect,
    globs.segment_tokens,
    globs._glob_columns,
    globs._segment_chunks,
    globs._fixed_width,
    globs._name_columns,
    globs._path_columns,
    globs.literal_text,
    globs.compile_path_glob,
)


def cold() -> None:
    """Empty every cache the pattern code keeps."""
    for function in CACHED:
        function.cache_clear()  # type: ignore[attr-defined]


def accepted(raw: str) -> str | None:
    """Return the normalised pattern, or None when the server would refuse it."""
    try:
        return patterns.normalise_pattern(raw)
    except InvalidArgumentError:
        return None


def fit(text: str, limit: int = LIMIT) -> str:
    return text[:limit]


# ---------------------------------------------------------------------------
# Adversarial families


def star_heavy(rng: random.Random) -> str:
    filler = rng.choice(["a", "ab", "aa", "ba", "a" * 20])
    return "*" + "*".join([filler] * (SEG - 1)) + "*" + rng.choice(["b", "c", ""])


def class_heavy(rng: random.Random) -> str:
    ranges = "".join(f"{chr(c)}-{chr(c + 1)}" for c in range(0x41, 0x41 + 2 * rng.randint(2, 12), 2))
    cls = "[" + rng.choice(["", "!"]) + ranges + "]"
    return fit(("*" + cls) * (SEG // 2) + rng.choice(["x", "*", "?"]))


def question_heavy(rng: random.Random) -> str:
    return "?" * rng.randint(1, SEG) + "*" + "a" * rng.randint(1, 300)


def double_star_heavy(rng: random.Random) -> str:
    names = [rng.choice(["a", "b", "*a", "a*"]) for _ in range(TOTAL // 2)]
    return fit("/".join(part for name in names for part in ("**", name)))


def deep_literal(rng: random.Random) -> str:
    return fit("/".join(rng.choice(["a", "b"]) for _ in range(256)))


def long_literal(rng: random.Random) -> str:
    return rng.choice(["a", "b"]) * rng.randint(40, LIMIT - 2) + rng.choice(["b", ".py", "c"])


def distinct_segments(rng: random.Random) -> str:
    """Up to 256 folders, all named differently: no two segment tests can share a cached answer."""
    return fit("/".join(chr(0x100 + i) for i in rng.sample(range(600), 256)))


def distinct_globs(rng: random.Random) -> str:
    """32 different one-wildcard segments (classes with wide ranges among them)."""
    shapes = ["*{c}", "[{c}-\u02ff]", "[!{c}]", "?{c}", "{c}*{c}"]
    return fit("/".join(rng.choice(shapes).format(c=chr(0x100 + i)) for i in rng.sample(range(600), TOTAL)))


def random_glob(rng: random.Random) -> str:
    pieces = ["a", "b", "c", ".", "*", "?", "/", "**", "[ab]", "[!a]", "[a-z]", "x" * 8, "src"]
    text = ""
    while len(text) < rng.randint(8, LIMIT):
        text += rng.choice(pieces)
    return fit(text)


FAMILIES = (
    star_heavy,
    class_heavy,
    question_heavy,
    double_star_heavy,
    deep_literal,
    long_literal,
    distinct_segments,
    distinct_globs,
    random_glob,
)


def mutate(rng: random.Random, pattern: str) -> str:
    """Change a pattern a little: insert, drop or replace a piece, or double a slice."""
    pieces = ["a", "b", "*", "?", "/", "**", "[ab]", "[!b]", "a*", "*a"]
    at = rng.randrange(len(pattern) + 1)
    choice = rng.randrange(4)
    if choice == 0:
        pattern = pattern[:at] + rng.choice(pieces) + pattern[at:]
    elif choice == 1 and len(pattern) > 1:
        pattern = pattern[:at] + pattern[at + 1 :]
    elif choice == 2:
        pattern = pattern[:at] + rng.choice(pieces) + pattern[at + 1 :]
    else:
        end = min(len(pattern), at + rng.randint(1, 16))
        pattern = pattern[:end] + pattern[at:end] + pattern[end:]
    return fit(pattern)


def family_pairs(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """Yield ``count`` accepted pairs drawn from the families (both orders count as one pair)."""
    made = 0
    while made < count:
        a = accepted(rng.choice(FAMILIES)(rng))
        b = accepted(rng.choice(FAMILIES)(rng))
        if a and b:
            made += 1
            yield a, b


# ---------------------------------------------------------------------------
# Timing


def timed(function: Callable[[], Any], repeats: int = 3) -> float:
    """Return the fastest of ``repeats`` cold runs, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        cold()
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def overlap_ms(a: str, b: str) -> float:
    return timed(lambda: patterns.patterns_overlap(a, b))


def climb(rng: random.Random, start: tuple[str, str], steps: int) -> tuple[float, tuple[str, str]]:
    """Mutate a pair toward a slower decision; return the slowest accepted pair found."""
    best_pair, best = start, overlap_ms(*start)
    for _ in range(steps):
        a, b = best_pair
        if rng.random() < 0.5:
            a = mutate(rng, a)
        else:
            b = mutate(rng, b)
        na, nb = accepted(a), accepted(b)
        if not na or not nb:
            continue
        spent = overlap_ms(na, nb)
        if spent > best:
            best, best_pair = spent, (na, nb)
    return best, best_pair


def adversarial_paths(rng: random.Random) -> list[str]:
    """Long paths: one huge name, many folders, glob characters used literally."""
    return [
        "a" * 4000 + "c",
        "/".join(["a"] * 2000),
        "/".join(["a" * 40] * 90) + "/x.py",
        "/".join("".join(rng.choice("ab*?[]") for _ in range(30)) for _ in range(100)),
    ]


def summary(name: str, values: list[float]) -> tuple[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    worst = ordered[-1]
    verdict = "PASS" if worst <= TARGET_MS else "MISS"
    print(
        f"| {name} | {len(values)} | {statistics.median(values):.3f} | {p99:.3f} | {worst:.3f} | "
        f"≤ {TARGET_MS:g} | {verdict} |"
    )
    return verdict, worst


def run_micro(pairs: int, seed: int, climbs: int, steps: int) -> bool:
    rng = random.Random(seed)
    print(f"seed {seed}; limits: {LIMIT} characters, {SEG} wildcards per segment, {TOTAL} per pattern\n")
    print("| decision | samples | p50 ms | p99 ms | worst ms | target | result |")
    print("|---|---|---|---|---|---|---|")
    generated = list(family_pairs(rng, pairs))
    overlap = [overlap_ms(a, b) for a, b in generated]
    slowest = sorted(range(len(generated)), key=overlap.__getitem__)[-climbs:]
    climbed: list[float] = []
    worst_pair = generated[slowest[-1]] if slowest else ("", "")
    worst_climbed = 0.0
    for index in slowest:
        spent, pair = climb(rng, generated[index], steps)
        climbed.append(spent)
        if spent > worst_climbed:
            worst_climbed, worst_pair = spent, pair
    results = [summary("patterns_overlap, generated pairs", overlap)]
    if climbed:
        results.append(summary("patterns_overlap, hill-climbed pairs", climbed))
    paths = adversarial_paths(rng)
    matching: list[float] = []
    sources = [s for s in (accepted(f(rng)) for f in FAMILIES for _ in range(max(1, pairs // 50))) if s]
    for pattern in sources:
        for path in paths:
            matching.append(timed(lambda pattern=pattern, path=path: patterns.pattern_matches(pattern, path)))
    results.append(summary("pattern_matches, paths of 4,000 characters", matching))
    a, b = worst_pair
    print(f"\nslowest overlap pair found ({max(overlap + climbed):.3f} ms):")
    for pattern in (a, b):
        print(f"  {pattern[:120]!r}{'...' if len(pattern) > 120 else ''}")
    return all(verdict == "PASS" for verdict, _ in results)


# ---------------------------------------------------------------------------
# End to end: the event loop and the write lock while a heavy request is decided


async def run_served(root: Path, holders: int, requested: int, seed: int) -> None:
    os.environ["MCP_AGENT_MAIL_HOME"] = str(root / "home")
    os.environ["DATABASE_URL"] = f"sqlite+aiosqlite:///{root / 'mailbox.sqlite3'}"
    os.environ["STORAGE_ROOT"] = str(root / "archive")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from fastmcp import Client

    from mcp_agent_mail.app import build_mcp_server
    from mcp_agent_mail.services.reservations import leases as reservations

    # Time the reservation's own work inside its write transaction (while it holds the write lock).
    in_lock: list[float] = []
    run_write = reservations.run_write

    async def timed_run_write(work: Any) -> Any:
        if not work.__qualname__.startswith("reserve_paths."):
            return await run_write(work)

        async def unit(session: Any) -> Any:
            start = time.perf_counter()
            try:
                return await work(session)
            finally:
                in_lock.append((time.perf_counter() - start) * 1000)

        return await run_write(unit)

    reservations.run_write = timed_run_write  # type: ignore[assignment]

    rng = random.Random(seed)
    key = "/bench/globs"
    server = build_mcp_server()
    async with Client(server) as client:
        await client.call_tool("ensure_project", {"human_key": key})
        names = [f"holder-{i}" for i in range(holders)] + ["requester-1", "probe-1"]
        for name in names:
            await client.call_tool("register_agent", {"project_key": key, "program": "b", "model": "b", "name": name})
        # Leases: any family. Requests: adversarial file globs under r/ (``r/**/*a*a*…*b.txt``), which
        # few leases overlap, so the answer stays small while the pairs are decided.
        held: list[list[str]] = []
        while len(held) < holders:
            group = [p for p in (accepted(rng.choice(FAMILIES)(rng)) for _ in range(3)) if p]
            if group:
                held.append(group)
        stored = [p for group in held for p in group]
        wanted: list[str] = []
        while len(wanted) < requested:
            body = rng.choice((star_heavy, class_heavy, question_heavy, long_literal))(rng)
            middle = rng.choice(["", "**/", "*/**/", "[!a]*/**/"])
            pattern = accepted(f"r/{middle}{body[: LIMIT - 20]}.txt")
            if pattern and pattern not in wanted:
                wanted.append(pattern)
        for i, group in enumerate(held):
            await client.call_tool(
                "file_reservation_paths",
                {"project_key": key, "agent_name": f"holder-{i}", "paths": group, "exclusive": True},
            )
        await client.call_tool(
            "file_reservation_paths", {"project_key": key, "agent_name": "probe-1", "paths": ["probe/lease.txt"]}
        )
        cold()
        gc.collect()
        gc.freeze()  # as ``serve`` does after start-up: the set-up's objects stay out of later collections

        async def probe_writes(stop: asyncio.Event, out: list[float]) -> None:
            args = {"project_key": key, "agent_name": "probe-1", "extend_seconds": 600}
            while not stop.is_set():
                start = time.perf_counter()
                await client.call_tool("renew_file_reservations", args)
                out.append((time.perf_counter() - start) * 1000)

        async def ticker(stop: asyncio.Event, out: list[float]) -> None:
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                start = loop.time()
                await asyncio.sleep(0.001)
                out.append((loop.time() - start - 0.001) * 1000)

        for label, heavy in (("baseline (no heavy request)", False), ("during the heavy request", True)):
            stop = asyncio.Event()
            lags: list[float] = []
            probes: list[float] = []
            tasks = [asyncio.create_task(ticker(stop, lags)), asyncio.create_task(probe_writes(stop, probes))]
            start = time.perf_counter()
            in_lock.clear()
            if heavy:
                result = (
                    await client.call_tool(
                        "file_reservation_paths",
                        {
                            "project_key": key,
                            "agent_name": "requester-1",
                            "paths": wanted,
                            "exclusive": True,
                        },
                    )
                ).data
                call_ms = (time.perf_counter() - start) * 1000
                await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*tasks)
            print(f"\n{label}:")
            if heavy:
                holders_listed = sum(len(c["holders"]) for c in result["conflicts"])
                print(
                    f"  file_reservation_paths: {len(wanted)} patterns against {len(stored)} leases "
                    f"({len(result['granted'])} granted, {len(result['conflicts'])} in conflict listing "
                    f"{holders_listed} holders): {call_ms:.0f} ms"
                )
                attempts = " + ".join(f"{spent:.2f}" for spent in in_lock)
                print(f"  its work inside write transactions: {attempts} ms ({len(in_lock)} attempt(s))")
            print(
                f"  event loop lateness: p50 {statistics.median(lags):.2f} ms, max {max(lags):.2f} ms "
                f"({len(lags)} ticks)"
            )
            print(
                f"  probe write latency: p50 {statistics.median(probes):.2f} ms, max {max(probes):.2f} ms "
                f"({len(probes)} writes)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="generated pattern pairs (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--climbs", type=int, default=20, help="slowest pairs to grow by hill climbing")
    parser.add_argument("--steps", type=int, default=150, help="mutations per hill climb")
    parser.add_argument("--serve", action="store_true", help="also run the end-to-end request")
    args = parser.parse_args()
    ok = run_micro(args.pairs, args.seed, args.climbs, args.steps)
    if args.serve:
        with tempfile.TemporaryDirectory(prefix="bench-globs-") as tmp:
            asyncio.run(run_served(Path(tmp), holders=50, requested=100, seed=args.seed))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
