"""Processes the benchmarks and the end-to-end tests start (workers, beat, gunicorn, the fake Resend server).

- `celery_worker_cmd`, `kill_groups`, `process_tree`: start, kill and list process groups.
- `cpu_seconds`, `memory_kb`, `postgres_pids`, `own_backend_pid`: what those processes (and PostgreSQL's backends)
  cost, read from /proc.
- `Fake`, `Workers`, `Stack`: the send benchmark's processes (bench/send.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from bench._common import ROOT


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes (children that already exited are not counted)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids(database: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        return [row[0] for row in cursor.fetchall()]


def own_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


class MemoryKb(NamedTuple):
    rss: int
    pss: int


def memory_kb(pids: list[int]) -> MemoryKb:
    """Summed RSS and PSS (shared pages split between the prefork children) of the processes, in kB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return MemoryKb(rss, pss)


class Fake:
    """bench/fake_resend.py in its own process (its own core), driven over HTTP."""

    def __init__(self, *, nagle: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The fake server answers with TCP_NODELAY (bench/fake_resend.py); `nagle` brings back the ~40 ms
        # delayed-ACK stall per kept-alive request that Herald's pooled client paid before (measured: 49 ms per
        # 100-email call instead of 7 ms; the bare SDK loop opens a connection per call and never saw it).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_resend", "--port", str(self.port), "--keep-messages", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "FAKE_RESEND_NAGLE": "1" if nagle else "0"},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.ledger()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("fake Resend did not start")

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def ledger(self) -> dict[str, Any]:
        return dict(self._call("/__ledger"))

    def reset(self, **knobs: Any) -> None:
        self._call("/__reset", {})
        defaults = {"latency_ms": 0.0, "rate_limit": 0.0, "error_rate": 0.0, "storm_429_rate": 0.0}
        self._call("/__config", {**defaults, **knobs})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Workers:
    def __init__(self, fake: Fake, concurrency: int, *, db_reuse: bool = False) -> None:
        self.fake = fake
        self.concurrency = concurrency
        self.app = "bench._celery_reuse" if db_reuse else "config"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = Path("/tmp") / f"herald-bench-worker-{os.getpid()}.log"

    def start(self, **env: str) -> None:
        full = dict(os.environ)
        full.update(
            {
                "EMAIL_TRANSPORT": "resend",
                "RESEND_API_URL": self.fake.url,
                "RESEND_API_KEY": "re_bench",
                "RESEND_RATE_LIMIT": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        full.update(env)
        cmd = celery_worker_cmd(
            app=self.app, concurrency=self.concurrency, name=f"bench-{len(self.procs)}-{os.getpid()}@%h"
        )
        out = self.log.open("ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        start = self.log.stat().st_size
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.log.open("rb") as f:
                f.seek(start)
                if b" ready." in f.read():
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"worker died: see {self.log}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready: see {self.log}")

    def kill(self) -> None:
        kill_groups(self.procs)
        self.procs = []

    def pids(self) -> list[int]:
        return [pid for proc in self.procs for pid in process_tree(proc.pid)]


class Stack:
    """Herald as it runs in production: gunicorn `config.asgi -k asgi`, a Celery worker and Celery beat (the
    `CELERY_BEAT_SCHEDULER`, scheduler.beat.HeraldScheduler), all three with `config.settings.production`."""

    NAMES = ("web", "worker", "beat")

    def __init__(
        self,
        fake: Fake,
        *,
        concurrency: int,
        web_workers: int,
        max_memory_per_child: int,
        preload: bool,
        embedded_beat: bool = False,
        pool: str = "prefork",
    ) -> None:
        self.fake = fake
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        # prefork: one process per concurrent task (throughput); threads: one process for all of them (memory).
        worker = [*celery, "worker", f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=INFO"]
        if max_memory_per_child:
            worker.append(f"--max-memory-per-child={max_memory_per_child}")
        if embedded_beat:  # beat as a process forked from the worker (`-B`): one deployment, no beat of its own
            worker.append("-B")
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.asgi",
            "-k",
            "asgi",
            f"--workers={web_workers}",
            f"--bind=127.0.0.1:{self.port}",
        ]
        if preload:
            web.append("--preload")
        self.commands = {"web": web, "worker": worker}
        if not embedded_beat:
            pidfile = f"--pidfile=/tmp/herald-bench-beat-{os.getpid()}.pid"
            self.commands["beat"] = [*celery, "beat", "--loglevel=INFO", pidfile]
        self.names = tuple(self.commands)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = {name: Path("/tmp") / f"herald-bench-{name}-{os.getpid()}.log" for name in self.names}

    def describe(self) -> str:
        return "; ".join(" ".join(cmd[2:] if cmd[1] == "-m" else cmd) for cmd in self.commands.values())

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.production",
                "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
                "HERALD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktbm90LWEtc2VjcmV0LTMyYnk=",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DJANGO_SECURE_COOKIES": "0",
                # Plain HTTP on 127.0.0.1, no TLS proxy: a redirect to https would keep the web from ever answering.
                "DJANGO_SECURE_SSL_REDIRECT": "0",
                "EMAIL_TRANSPORT": "resend",
                "RESEND_API_URL": self.fake.url,
                "RESEND_API_KEY": "re_bench",
                "RESEND_RATE_LIMIT": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        for name in self.names:
            log = self.logs[name].open("wb")
            self.procs[name] = subprocess.Popen(
                self.commands[name], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 90
        ready: set[str] = set()
        while ready != set(self.names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready: {set(self.names) - ready}; see {self.logs}")
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} died: see {self.logs[name]}")
            text = {name: self.logs[name].read_bytes() for name in self.names}
            if b" ready." in text["worker"]:
                ready.add("worker")
            if "beat" in text and b"maxinterval" in text["beat"]:  # the banner (celery.beat logs at WARNING by default)
                ready.add("beat")
            try:
                urllib.request.urlopen(self.url + "/api/v1/scenarios", timeout=5).close()
                ready.add("web")
            except urllib.error.HTTPError:
                ready.add("web")  # 401 without a token: a gunicorn worker answered
            except OSError:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        kill_groups(self.procs.values())  # whatever did not stop on SIGTERM
        self.procs = {}

    def pids(self) -> dict[str, list[int]]:
        """Each process and all its descendants (prefork children, gunicorn workers), read fresh from /proc."""
        return {name: process_tree(proc.pid) for name, proc in self.procs.items()}
