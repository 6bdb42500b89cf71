"""A throw-away PostgreSQL server for the benchmarks: ``with throwaway_database_url() as url: ...``.

It reuses the test suite's private cluster (``tests/pg_cluster.py``: ``initdb`` in a temporary
directory, as the ``postgres`` user when run as root, on 127.0.0.1 and a free port), but keeps
PostgreSQL's durable defaults (fsync on every commit), so figures compare fairly with SQLite's
full fsync. The cluster is stopped and removed on exit. Needs Debian's ``postgresql`` package and
the ``postgres`` extra (psycopg).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1] / "tests"


@contextlib.contextmanager
def throwaway_database_url(leftovers: list[Path] | None = None) -> Iterator[str]:
    """Start a durable private PostgreSQL cluster, yield the SQLAlchemy URL of a fresh database, then remove it.

    With ``leftovers`` the cluster is stopped but its directory is kept and appended to that list,
    for the caller to remove later (deleting thousands of files slows the next run's file creation).
    """
    if str(_TESTS) not in sys.path:
        sys.path.insert(0, str(_TESTS))
    from pg_cluster import PgCluster, find_pg_bindir

    bindir = find_pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found: install Debian's postgresql package")
    cluster = PgCluster(bindir, durable=True)
    try:
        cluster.start()
        if leftovers is not None and cluster.root is not None:
            leftovers.append(cluster.root)
        yield cluster.url(cluster.create_database())
    finally:
        cluster.stop(remove=leftovers is None)
