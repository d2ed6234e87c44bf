"""Process groups the benchmarks and the end-to-end tests start (workers, beat, gunicorn): kill them, list them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def celery_worker_cmd(*, app: str, concurrency: int, name: str, pool: str = "") -> list[str]:
    """A worker as the benchmarks and e2e tests run it: no gossip, mingle or heartbeat (faster start).

    The pool is prefork unless `pool` or HERALD_WORKER_POOL says `threads` (what production runs, README).
    """
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        f"--pool={pool or os.environ.get('HERALD_WORKER_POOL', 'prefork')}",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        name,
    ]


def kill_groups(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGKILL each process's whole group (a prefork parent and its pool children at once) and reap it.

    The processes must have been started with `start_new_session=True`, so each leads its own group.
    """
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, read fresh from /proc (children that exited are gone)."""
    pids: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        stack.extend(int(c) for c in children)
    return pids
