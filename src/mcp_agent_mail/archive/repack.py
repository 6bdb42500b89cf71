"""Merge the archive's packs into one when they pile up, as ``git gc --auto`` does.

The writer stores a large batch as a pack of its own and packs loose objects once
there are thousands, so a long-lived archive gathers packs: one every thousand or
so messages. Every object lookup (the writer's, the web UI's, ``git log`` in the
archive) searches each pack's index in turn, so reading slows down as they grow
in number. Past :data:`PACK_LIMIT` packs the writer, holding the writer lock, runs
``git repack -a -d`` (Git's own answer to ``gc.autoPackLimit``), which writes one
pack with deltas, syncs it, and only then deletes the packs it replaces; readers
in other processes that still hold an old pack open keep reading it. Without a
``git`` program the packs stay as they are (a warning says so, once).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time

from dulwich.repo import Repo

logger = logging.getLogger(__name__)

PACK_LIMIT = 50
"""Packs an archive may gather before the writer merges them (Git's ``gc.autoPackLimit``)."""

REPACK_TIMEOUT_S = 1800.0
"""How long one merge may take before it is stopped (the archive is left as it was)."""

RETRY_AFTER_S = 3600.0
"""After a failed merge, how long the writer waits before trying again."""

_failed_at: dict[str, float] = {}
_warned_missing_git: list[bool] = []


def _git_command(git: str) -> list[str]:
    # Settings of the person's own Git configuration must not change how the archive is packed,
    # and the merge must be on disk before the packs it replaces are deleted.
    settings = ("gc.auto=0", "core.fsync=committed", "repack.writeBitmaps=false")
    return [git, *(part for setting in settings for part in ("-c", setting)), "repack", "-a", "-d", "-q"]


def _plain_environment() -> dict[str, str]:
    """Return this process's environment without ``GIT_*`` variables (another repository's, or a hook's)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}


def maybe_consolidate(repo: Repo) -> bool:
    """Merge every pack of ``repo`` into one once there are more than :data:`PACK_LIMIT`; return True if merged.

    Call only while holding the archive writer lock.
    """
    root = str(repo.path)
    count = repo.object_store.count_pack_files()  # packs kept by a .keep file are not counted (nor merged)
    if count <= PACK_LIMIT:
        return False
    failed = _failed_at.get(root)
    if failed is not None and time.monotonic() - failed < RETRY_AFTER_S:
        return False
    git = shutil.which("git")
    if git is None:
        if not _warned_missing_git:
            _warned_missing_git.append(True)
            logger.warning(
                "archive: %d packs and no git program to merge them; lookups slow down as packs pile up "
                "(install git, or run `git repack -a -d` in %s)",
                count,
                root,
            )
        return False
    started = time.monotonic()
    try:
        done = subprocess.run(
            _git_command(git),
            cwd=root,
            stdin=subprocess.DEVNULL,  # never the stdio transport's pipe
            capture_output=True,
            text=True,
            check=False,
            timeout=REPACK_TIMEOUT_S,
            env={**_plain_environment(), "GIT_DIR": repo.controldir()},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _failed_at[root] = time.monotonic()
        logger.warning("archive: merging %d packs failed: %s", count, exc)
        return False
    if done.returncode != 0:
        _failed_at[root] = time.monotonic()
        logger.warning("archive: merging %d packs failed: %s", count, (done.stderr or done.stdout).strip()[-500:])
        return False
    _failed_at.pop(root, None)
    # Counting lists the pack folder, which also drops the handles of the packs just deleted.
    merged = repo.object_store.count_pack_files()
    logger.info("archive: merged %d packs into %d in %.1f s", count, merged, time.monotonic() - started)
    return True


__all__ = ["PACK_LIMIT", "maybe_consolidate"]
