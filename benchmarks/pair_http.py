"""Compare one SQLite server process with N PostgreSQL server processes over HTTP, in pairs.

Each pair runs ``load_http.py`` twice, one backend right after the other (the order
alternates from pair to pair), and reports the PostgreSQL run's messages per second as
a share of the SQLite run's. Single runs on a shared machine move by a quarter either
way, so only the ratio within a pair, over several pairs, means much.

The pairs are kept apart by a quiet spell (``--settle``, 300 s by default) with nothing
deleted, and each run keeps its files until the pair is over. On ext4, creating a file
shortly after thousands were deleted in the same area of the disk (a run's clean-up,
a test suite) costs up to a millisecond of kernel time instead of a few microseconds,
for about five minutes. The archive writer creates several files per message, so a run
started right after another one's clean-up spends seconds of CPU in the kernel, and
that CPU is what the PostgreSQL processes lack on two cores (one SQLite process,
bound by one interpreter lock, leaves a core for it). ``system s`` in the table shows
that kernel time: compare pairs whose runs spent about the same.

    python benchmarks/pair_http.py                    # 3 pairs of 20 rounds, 2 PostgreSQL processes
    python benchmarks/pair_http.py --pairs 5 --rounds 40 --settle 300
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_once(backend: str, workers: int, rounds: int, agents: int) -> dict[str, object]:
    """Run ``load_http.py`` once with ``--json --keep`` and return its report."""
    command = [
        sys.executable,
        str(HERE / "load_http.py"),
        "--json",
        "--keep",
        "--rounds",
        str(rounds),
        "--agents",
        str(agents),
        "--backend",
        backend,
        "--workers",
        str(workers),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report: dict[str, object] = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"load_http.py failed ({backend}):\n{done.stderr[-2000:]}") from exc
    return report


def remove_leftovers(*reports: dict[str, object]) -> None:
    """Delete the data directories and PostgreSQL clusters the runs kept."""
    for report in reports:
        for key in ("data_dir", "cluster_dir"):
            path = report.get(key)
            if isinstance(path, str) and path:
                shutil.rmtree(path, ignore_errors=True)


def _row(report: dict[str, object]) -> str:
    return (
        f"{report['messages_per_s']:>8} msg/s  server CPU {report['server_cpu_s']:>5} s "
        f"(system {report.get('server_system_cpu_s', '?')} s)  "
        f"errors {len(report['errors']) if isinstance(report['errors'], list) else '?'}  "
        f"audit {'ok' if isinstance(report['audit'], dict) and report['audit'].get('ok') else 'FAILED'}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the pairs, print each run and each ratio, then the median ratio; 0 when every audit passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="how many pairs (default 3)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds per agent in each run (default 20)")
    parser.add_argument("--agents", type=int, default=50, help="concurrent agents (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="PostgreSQL server processes (default 2)")
    parser.add_argument("--settle", type=float, default=300.0, help="quiet seconds before each pair (default 300)")
    args = parser.parse_args(argv)
    ratios: list[float] = []
    healthy = True
    for pair in range(1, args.pairs + 1):
        if args.settle > 0:
            print(f"pair {pair}: waiting {args.settle:.0f} s for the disk to settle", flush=True)
            time.sleep(args.settle)
        order = [("sqlite", 1), ("postgresql", args.workers)]
        if pair % 2 == 0:
            order.reverse()
        reports: dict[str, dict[str, object]] = {}
        try:
            for backend, workers in order:
                reports[backend] = run_once(backend, workers, args.rounds, args.agents)
        finally:
            remove_leftovers(*reports.values())
        sqlite, postgres = reports["sqlite"], reports["postgresql"]
        for name, report in (("sqlite x1", sqlite), (f"postgresql x{args.workers}", postgres)):
            print(f"  {name:<15}{_row(report)}", flush=True)
            audit = report.get("audit")
            healthy = healthy and not report.get("errors") and isinstance(audit, dict) and bool(audit.get("ok"))
        ratio = float(str(postgres["messages_per_s"])) / max(float(str(sqlite["messages_per_s"])), 1e-9)
        ratios.append(ratio)
        print(f"  ratio {ratio:.0%} (order: {' then '.join(b for b, _ in order)})", flush=True)
    print(
        f"\n{len(ratios)} pairs of {args.rounds} rounds: PostgreSQL x{args.workers} / SQLite x1 = "
        f"{min(ratios):.0%}-{max(ratios):.0%}, median {statistics.median(ratios):.0%}"
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
