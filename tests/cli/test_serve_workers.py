"""The worker pool of ``serve --workers``: a worker that cannot start stops the server instead of restarting."""

from __future__ import annotations

import os
import sys
import time

import pytest

from mcp_agent_mail.cli import serve_workers
from mcp_agent_mail.cli.serve import WORKER_APP_FACTORY

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="balanced workers need Linux")

UNROUTABLE = "192.0.2.1"
"""An address of TEST-NET-1 (RFC 5737): no interface of this machine has it, so binding it fails."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_that_cannot_listen_stops_the_pool_with_status_1(isolated_env):
    options = serve_workers.WorkerOptions(
        UNROUTABLE, 8765, {"app": WORKER_APP_FACTORY, "factory": True, "log_config": None, "lifespan": "on"}
    )
    pool = serve_workers.WorkerPool(2, options, graceful_s=1.0)
    started = time.monotonic()

    status = pool.run()

    # A worker that crashed after starting would be replaced and the pool would go on serving;
    # one that never started ends the pool at once, with every worker stopped.
    assert status == 1
    assert len(pool.pids) == 2
    assert not any(_alive(pid) for pid in pool.pids)
    assert time.monotonic() - started < 60
